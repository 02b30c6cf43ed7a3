"""Device mesh for data parallelism: the batch is split on axis "data", parameters replicated."""

from __future__ import annotations

import jax
from jax.sharding import Mesh


def data_mesh(num_devices: int | None = None) -> Mesh | None:
  """A 1-D mesh over all (or the first num_devices) devices; None on a single device."""
  devices = jax.devices()[:num_devices] if num_devices else jax.devices()
  if len(devices) == 1:
    return None
  return jax.make_mesh((len(devices),), ("data",), devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,))
