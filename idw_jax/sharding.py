"""Data parallelism over a 1-D device mesh: batches split on axis "data", parameters replicated.

Training: `Trainer` keeps the data and the parameters replicated (`replicate`) and constrains
every batch to be split on its leading axis (`constrain_batch`) inside the jitted step, so XLA
runs each device's share of the forward and backward pass and all-reduces the gradients; the
in-batch softmax still spans the whole global batch (the candidates are gathered), so the loss
is the one-device loss. Evaluation maps query blocks inside `jax.shard_map` (`map_blocks`):
every device ranks its own queries against the replicated item table, without communication.

The mesh uses `AxisType.Auto` axes: with JAX's default (Explicit) axis types
`with_sharding_constraint` fails (docs/design.md). One device means no mesh (None): the same code
then runs plain `jit`.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def data_mesh(num_devices: int | None = None) -> Mesh | None:
  """A 1-D mesh (axis "data", Auto) over all (or the first num_devices) devices; None on one."""
  devices = jax.devices()[:num_devices] if num_devices else jax.devices()
  if len(devices) == 1:
    return None
  return jax.make_mesh((len(devices),), (DATA_AXIS,), devices=devices,
                       axis_types=(AxisType.Auto,))


def check_mesh(mesh: Mesh | None) -> Mesh | None:
  """The mesh as the trainer uses it: 1-D over axis "data", with Auto axis types.

  A mesh made with `jax.make_mesh` defaults (Explicit axes) is rebuilt over the same devices
  with Auto axes; a mesh with other axis names is an error. A 1-device mesh becomes None.
  """
  if mesh is None:
    return None
  if mesh.axis_names != (DATA_AXIS,):
    raise ValueError(f"the mesh must be 1-D with axis {DATA_AXIS!r} (sharding.data_mesh()), "
                     f"got axes {mesh.axis_names}")
  if mesh.devices.size == 1:
    return None
  if mesh.axis_types != (AxisType.Auto,):
    mesh = Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,))
  return mesh


def num_devices(mesh: Mesh | None) -> int:
  return 1 if mesh is None else int(mesh.devices.size)


def describe(mesh: Mesh | None) -> dict | None:
  """{"data": n} for results.json, None without a mesh."""
  return None if mesh is None else dict(zip(mesh.axis_names, mesh.devices.shape))


def _put(x, sharding: NamedSharding):
  """device_put; a process-local jax.Array bound for a mesh that spans several processes goes
  through host memory (device_put of it directly builds a broken array: addressable_shards
  fails, so Orbax cannot save it)."""
  def one(a):
    if (isinstance(a, jax.Array) and a.is_fully_addressable
        and not sharding.is_fully_addressable):
      a = np.asarray(a)
    return jax.device_put(a, sharding)
  return jax.tree.map(one, x)


def replicate(x, mesh: Mesh | None):
  """x (array or pytree) on every device of the mesh; a plain device array without one."""
  if mesh is None:
    return jax.tree.map(jnp.asarray, x)
  return _put(x, NamedSharding(mesh, P()))


def shard_leading(x, mesh: Mesh | None):
  """x[n, ...] split on its leading axis over "data" (n a multiple of the device count)."""
  if mesh is None:
    return jnp.asarray(x)
  return _put(x, NamedSharding(mesh, P(DATA_AXIS)))


def to_host(x) -> np.ndarray:
  """x as a host numpy array on every process; a global array split over several processes
  (multi-host) is gathered first (np.asarray alone fails on non-addressable shards)."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable and not x.is_fully_replicated:
    from jax.experimental import multihost_utils
    x = multihost_utils.process_allgather(x, tiled=True)
  return np.asarray(x)


def constrain_batch(x: jax.Array, mesh: Mesh | None) -> jax.Array:
  """Inside jit: x[B, ...] laid out split on its leading (batch) axis over "data"."""
  if mesh is None:
    return x
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P(DATA_AXIS)))


def block_layout(n: int, block: int, mesh: Mesh | None, multiple: int = 8) -> tuple[int, int]:
  """(block, padded n) for mapping n rows in blocks on every device of the mesh.

  The block is clipped to the rows each device holds (rounded up to `multiple`), and n is
  padded to a multiple of devices x block, so every device maps the same number of blocks.
  """
  n_dev = num_devices(mesh)
  per_device = max(1, math.ceil(n / n_dev))
  block = max(1, min(int(block), per_device))
  if block >= multiple:
    block = math.ceil(block / multiple) * multiple
  padded = math.ceil(n / (n_dev * block)) * n_dev * block
  return block, padded


def pad_rows(x, padded: int):
  """x[n, ...] -> x[padded, ...], the new rows copies of row 0 (valid inputs, discarded later)."""
  n = x.shape[0]
  if padded == n:
    return x
  xp = np if isinstance(x, np.ndarray) else jnp
  fill = xp.broadcast_to(x[:1], (padded - n,) + tuple(x.shape[1:]))
  return xp.concatenate([x, fill])


def map_blocks(fn: Callable, mesh: Mesh | None, block: int, sharded, replicated=()):
  """fn over row blocks of `sharded` arrays, each device mapping its own rows (no communication).

  Call inside jit. Every array of `sharded` has the same leading size n, a multiple of
  devices x block (see `block_layout`); `replicated` arrays are passed whole to every call.

  Args:
    fn: (*blocks [block, ...], *replicated) -> pytree of [block, ...] arrays.
    mesh: the data mesh, or None (one device: a plain `lax.map`).
    block: rows per call.
    sharded: tuple of [n, ...] arrays, split over "data".
    replicated: tuple of arrays every block sees whole.

  Returns:
    fn's outputs concatenated over blocks: [n, ...] each, split over "data".
  """
  sharded, replicated = tuple(sharded), tuple(replicated)

  def local(*args):
    xs, rep = args[:len(sharded)], args[len(sharded):]
    n = xs[0].shape[0]
    blocks = tuple(x.reshape((n // block, block) + x.shape[1:]) for x in xs)
    out = jax.lax.map(lambda bs: fn(*bs, *rep), blocks)
    return jax.tree.map(lambda y: y.reshape((n,) + y.shape[2:]), out)

  if mesh is None:
    return local(*sharded, *replicated)
  specs = (P(DATA_AXIS),) * len(sharded) + (P(),) * len(replicated)
  return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P(DATA_AXIS),
                       check_vma=False)(*sharded, *replicated)
