"""The sleep phase of IDW (paper Sec. 3.3, Alg. 2): item weights from a kernel density.

Pipeline: item embeddings v[N, d] and current weights w[N] -> weighted isotropic Gaussian KDE of
every item under all items (Eq. 7, Scott's rule bandwidth) -> relative density p' (Eq. 8) ->
h = 1 - p' -> momentum update w <- m w + (1 - m) h / sum(h) (Eq. 9).

Item convention: `item_emb` holds the real items only. Dense item ids run 1..N (id 0 is the padding
id), and row r of `item_emb` (and entry r of `w`) belongs to item id r + 1.

The KDE is exact and tiled on both axes: query blocks are mapped with `lax.map`, point blocks are
streamed with `lax.fori_loop`, so memory is O(block_q x block_n), never Q x N. With several devices
the query axis is split across a 1-D mesh with axis "data" (`jax.shard_map`); points are
replicated. An optional fused Pallas (Triton) kernel, `impl="pallas"`, keeps each tile on chip on
GPUs; the blocked XLA version stays the reference and the default (the Pallas kernel is tested here
in interpret mode only).

Numerics (float32 throughout, tested against a float64 numpy loop):
- the data are centred on the points' mean and scaled by 1 / bandwidth before the
  |q|^2 + |v|^2 - 2 q.v expansion, which keeps cancellation small; the squared distance is clamped
  at >= 0;
- q.v uses `precision=HIGHEST` (the TF32 default on GPUs gave 2% error);
- the Gaussian normaliser (2 pi l^2)^(-d/2) under- or overflows float32 easily (d = 16, l = 1e-3
  gives 4e41), so it is kept in log space: `kernel_sums` returns
  S(q) = sum_k w_k exp(-|q - v_k|^2 / 2l^2) / sum_k w_k in [0, 1],
  `log_kde` = log S - (d/2) log(2 pi l^2), and `kde` = exp(log_kde). The relative density of Eq. 8
  is invariant to the normaliser, so the paper's sleep phase uses S directly and never sees it.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from idw_jax import sharding

WEIGHTINGS = ("relative", "inverse")
COVARIANCES = ("isotropic", "full")
DATA_AXIS = sharding.DATA_AXIS

# Default tiles (idw.kde_block = 0). On CPU the tile size matters little over a wide flat range
# and 2048 x 1024 (8 MB) sits in it; measure with benchmarks/kde.py. Accelerators get larger tiles
# so each streamed step has enough work (8192 x 4096 float32 = 128 MB).
_DEFAULT_BLOCKS = {"cpu": (2048, 1024)}
_ACCELERATOR_BLOCKS = (8192, 4096)
# Per-program register tile of the fused kernel (flash-attention-like sizes).
_PALLAS_BLOCKS = (128, 128)
IMPLS = ("xla", "pallas", "pallas_interpret")
_MIN_BANDWIDTH = 1e-15  # keeps 1 / (2 l^2) finite in float32 when every embedding coincides.


def default_blocks(backend: str | None = None, impl: str = "xla") -> tuple[int, int]:
  """(block_q, block_n) used when `kde` gets none: by backend ("cpu", "gpu", "tpu") and impl."""
  if impl != "xla":
    return _PALLAS_BLOCKS
  backend = backend or jax.default_backend()
  return _DEFAULT_BLOCKS.get(backend, _ACCELERATOR_BLOCKS)


def _static_kwargs(block_q, block_n, mesh, impl) -> dict[str, Any]:
  """Resolves the static (compile-time) arguments shared by the public entry points."""
  if impl not in IMPLS:
    raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
  default_q, default_n = default_blocks(impl=impl)
  return {"block_q": block_q or default_q, "block_n": block_n or default_n,
          "mesh": _resolve_mesh(mesh), "impl": impl}


def _check_shapes(queries, points, weights) -> None:
  """queries[Q, d], points[N, d], weights[N] or None; raises ValueError naming the mismatch."""
  if queries.ndim != 2 or points.ndim != 2 or queries.shape[1] != points.shape[1]:
    raise ValueError(f"kde wants queries [Q, d] and points [N, d], got {queries.shape}, "
                     f"{points.shape}")
  if weights is not None and jnp.shape(weights) != (points.shape[0],):
    raise ValueError(f"kde weights must be [{points.shape[0]}], got {jnp.shape(weights)}")


def scott_bandwidth(points: jax.Array) -> jax.Array:
  """Scott's rule l = sigma * N^(-1 / (d + 4)) for points[N, d] -> scalar.

  sigma is the mean over dimensions of the per-dimension sample standard deviation (ddof = 1, as in
  scipy's covariance); the kernel is isotropic (docs/design.md, "KDE").
  """
  n, d = points.shape
  sigma = jnp.mean(jnp.std(points.astype(jnp.float32), axis=0, ddof=1 if n > 1 else 0))
  return sigma * n ** (-1.0 / (d + 4))


def _log_normalizer(bandwidth: jax.Array, d: int) -> jax.Array:
  """log of the Gaussian normaliser (2 pi l^2)^(-d/2), computed in log space (no over/underflow)."""
  l = jnp.maximum(jnp.asarray(bandwidth, jnp.float32), _MIN_BANDWIDTH)
  return -0.5 * d * (math.log(2.0 * math.pi) + 2.0 * jnp.log(l))


def _blocked_sums(q: jax.Array, v: jax.Array, w: jax.Array, block_q: int,
                  block_n: int) -> jax.Array:
  """sum_k w_k exp(-|q - v_k|^2 / 2) for pre-scaled q[Q, d], v[N, d], w[N] -> [Q], tiled on both
  axes."""
  n_q, d = q.shape
  n_p = v.shape[0]
  block_q = min(block_q, n_q)
  block_n = min(block_n, n_p)
  nq = -(-n_q // block_q)
  nn = -(-n_p // block_n)
  # Padding: extra queries are discarded, extra points get weight 0 (and sit at the origin).
  q = jnp.pad(q, ((0, nq * block_q - n_q), (0, 0))).reshape(nq, block_q, d)
  v = jnp.pad(v, ((0, nn * block_n - n_p), (0, 0))).reshape(nn, block_n, d)
  w = jnp.pad(w, (0, nn * block_n - n_p)).reshape(nn, block_n)
  half_vv = 0.5 * jnp.sum(v * v, axis=-1)  # [nn, block_n]

  def query_block(qb):  # [block_q, d] -> [block_q]
    half_qq = 0.5 * jnp.sum(qb * qb, axis=-1)

    def point_block(i, acc):
      qv = jnp.dot(qb, v[i].T, precision=lax.Precision.HIGHEST)  # [block_q, block_n]
      # -|q - v|^2 / 2 = q.v - |q|^2/2 - |v|^2/2, clamped so the squared distance is >= 0.
      log_k = jnp.minimum(qv - half_qq[:, None] - half_vv[i][None, :], 0.0)
      return acc + jnp.dot(jnp.exp(log_k), w[i], precision=lax.Precision.HIGHEST)

    # zeros_like keeps shard_map's vma
    return lax.fori_loop(0, nn, point_block, jnp.zeros_like(half_qq))

  return lax.map(query_block, q).reshape(-1)[:n_q]


def _pallas_sums(q, v, w, block_q, block_n, interpret):
  """Fused Pallas (Triton) version of `_blocked_sums`: one program per query block, point blocks
  looped.

  The [block_q, block_n] tile lives in registers/SRAM only. Triton wants power-of-two tiles, so d is
  zero-padded to a power of two >= 16 and the block sizes are rounded up to powers of two.
  `interpret=True` runs the same kernel on any backend (slowly): that is how it is tested on CPU.
  """
  from jax.experimental import pallas as pl  # pylint: disable=g-import-not-at-top

  n_q, d = q.shape
  n_p = v.shape[0]
  block_q = pl.next_power_of_2(min(block_q, n_q))
  block_n = pl.next_power_of_2(min(block_n, n_p))
  d_pad = max(16, pl.next_power_of_2(d))
  nq = -(-n_q // block_q)
  nn = -(-n_p // block_n)
  q = jnp.pad(q, ((0, nq * block_q - n_q), (0, d_pad - d)))
  v = jnp.pad(v, ((0, nn * block_n - n_p), (0, d_pad - d)))
  w = jnp.pad(w, (0, nn * block_n - n_p))
  half_vv = 0.5 * jnp.sum(v * v, axis=-1)

  def kernel(q_ref, v_ref, hvv_ref, w_ref, o_ref):
    qb = q_ref[...]
    half_qq = 0.5 * jnp.sum(qb * qb, axis=-1)

    def point_block(j, acc):
      rows = pl.ds(j * block_n, block_n)
      qv = jnp.dot(qb, v_ref[rows, :].T, precision=lax.Precision.HIGHEST)
      log_k = jnp.minimum(qv - half_qq[:, None] - hvv_ref[rows][None, :], 0.0)
      return acc + jnp.sum(jnp.exp(log_k) * w_ref[rows][None, :], axis=-1)

    o_ref[...] = lax.fori_loop(0, nn, point_block, jnp.zeros_like(half_qq))

  out = pl.pallas_call(
      kernel,
      grid=(nq,),
      in_specs=[
          pl.BlockSpec((block_q, d_pad), lambda i: (i, 0)),
          pl.BlockSpec((nn * block_n, d_pad), lambda i: (0, 0)),
          pl.BlockSpec((nn * block_n,), lambda i: (0,)),
          pl.BlockSpec((nn * block_n,), lambda i: (0,)),
      ],
      out_specs=pl.BlockSpec((block_q,), lambda i: (i,)),
      out_shape=jax.ShapeDtypeStruct((nq * block_q,), jnp.float32),
      interpret=interpret,
      name="kde_kernel_sums",
  )(q, v, half_vv, w)
  return out[:n_q]


def _local_sums(q, v, w, block_q, block_n, impl):
  """Dispatch to the XLA (default, reference) or Pallas implementation of the kernel sums."""
  if impl == "xla":
    return _blocked_sums(q, v, w, block_q, block_n)
  return _pallas_sums(q, v, w, block_q, block_n, interpret=impl == "pallas_interpret")


def _resolve_mesh(mesh: Mesh | None) -> Mesh | None:
  """The mesh to split queries over: the given one, else the data mesh over all devices
  (`sharding.data_mesh`: None on one device)."""
  if mesh is not None:
    if mesh.axis_names != (DATA_AXIS,):
      raise ValueError(f"kde mesh must be 1-D with axis {DATA_AXIS!r}, got axes {mesh.axis_names}")
    return mesh
  return sharding.data_mesh()


@functools.partial(jax.jit, static_argnames=("block_q", "block_n", "mesh", "impl"))
def _kernel_sums(queries, points, weights, bandwidth, *, block_q, block_n, mesh, impl):
  """Jitted body of `kernel_sums` (block sizes and mesh resolved)."""
  queries = queries.astype(jnp.float32)
  points = points.astype(jnp.float32)
  weights = weights.astype(jnp.float32)
  weights = weights / jnp.sum(weights)
  scale = 1.0 / jnp.maximum(jnp.asarray(bandwidth, jnp.float32), _MIN_BANDWIDTH)
  centre = jnp.mean(points, axis=0)
  q = (queries - centre) * scale
  v = (points - centre) * scale
  if mesh is None:
    return _local_sums(q, v, weights, block_q, block_n, impl)
  n_q = q.shape[0]
  n_dev = mesh.devices.size
  q = jnp.pad(q, ((0, -n_q % n_dev), (0, 0)))
  local = jax.shard_map(
      lambda qs, vs, ws: _local_sums(qs, vs, ws, block_q, block_n, impl),
      mesh=mesh, in_specs=(P(DATA_AXIS), P(), P()), out_specs=P(DATA_AXIS))
  return local(q, v, weights)[:n_q]


def kernel_sums(
    queries: jax.Array,
    points: jax.Array,
    weights: jax.Array | None,
    bandwidth: Any,
    *,
    block_q: int | None = None,
    block_n: int | None = None,
    mesh: Mesh | None = None,
    impl: str = "xla",
) -> jax.Array:
  """S(q) = sum_k w_k exp(-|q - v_k|^2 / (2 l^2)) / sum_k w_k, in [0, 1]: the KDE without its
  normaliser.

  Args:
    queries: [Q, d] points at which to evaluate.
    points: [N, d] kernel centres v_k.
    weights: [N] non-negative weights w_k with a positive sum, or None for uniform.
    bandwidth: scalar l > 0.
    block_q, block_n: tile sizes (static); None picks `default_blocks()`. Memory is
      O(block_q x block_n).
    mesh: 1-D mesh with axis "data" to split queries over; None uses all devices when there are
      several.
    impl: "xla" (blocked lax.map x fori_loop; the reference and default), "pallas" (fused Triton
      kernel for GPUs, optional) or "pallas_interpret" (the same kernel interpreted, for testing on
      CPU).

  Returns:
    [Q] float32.
  """
  _check_shapes(queries, points, weights)
  if weights is None:
    weights = jnp.ones((points.shape[0],), jnp.float32)
  return _kernel_sums(
      queries, points, weights, bandwidth, **_static_kwargs(block_q, block_n, mesh, impl))


def log_kde(queries, points, weights, bandwidth, **kwargs) -> jax.Array:
  """log p(q) for the weighted Gaussian KDE of `kde`; [Q] float32, -inf where S underflows to 0."""
  s = kernel_sums(queries, points, weights, bandwidth, **kwargs)
  return jnp.log(s) + _log_normalizer(bandwidth, points.shape[1])


def kde(
    queries: jax.Array,
    points: jax.Array,
    weights: jax.Array | None,
    bandwidth: Any,
    *,
    block_q: int | None = None,
    block_n: int | None = None,
    mesh: Mesh | None = None,
    impl: str = "xla",
) -> jax.Array:
  """Exact weighted isotropic Gaussian KDE (paper Eq. 7), queries[Q, d] -> p[Q].

  p(q) = sum_k w_k N(q; v_k, l^2 I) / sum_k w_k, a probability density in q (it integrates to 1):
  Eq. 7 with the weights normalised and the full Gaussian normaliser (2 pi l^2)^(-d/2) in place of
  1 / l. The normaliser is applied in log space; the result is float32 and is inf where the density
  exceeds float32 (use `log_kde` then). Arguments as in `kernel_sums`.
  """
  return jnp.exp(log_kde(
      queries, points, weights, bandwidth, block_q=block_q, block_n=block_n, mesh=mesh, impl=impl))


def full_covariance_log_kde(queries, points, weights=None, **kwargs) -> jax.Array:
  """log p(q) of the weighted Gaussian KDE with a full covariance, as scipy.stats.gaussian_kde.

  The kernel covariance is the weighted sample covariance of the points (normalised weights w,
  unbiased: divided by 1 - sum w^2) times Scott's factor squared, with the weights' effective
  n = 1 / sum w^2: factor = n_eff^(-1 / (d + 4)). The covariance, its Cholesky factor L and the
  whitening z = L^-1 (x - mean) are float64 on the host (O(N d^2)); the kernel sums over the
  whitened points are the tiled isotropic kernel with bandwidth 1, minus log det L. The
  authors' released code fits this on a weighted sample of the items (their sleep phase).
  kwargs: as in `kernel_sums`. Returns [Q] float32.
  """
  x = np.asarray(points, np.float64)
  n, d = x.shape
  w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, np.float64)
  w = w / w.sum()
  n_eff = 1.0 / np.sum(w * w)
  mean = w @ x
  cov = ((x - mean) * w[:, None]).T @ (x - mean) / (1.0 - np.sum(w * w))
  chol = np.linalg.cholesky(cov * n_eff ** (-2.0 / (d + 4)))
  whiten = lambda v: np.linalg.solve(chol, (np.asarray(v, np.float64) - mean).T).T  # noqa: E731
  s = kernel_sums(jnp.asarray(whiten(queries), jnp.float32), jnp.asarray(whiten(x), jnp.float32),
                  jnp.asarray(w, jnp.float32), 1.0, **kwargs)
  log_norm = -0.5 * d * math.log(2.0 * math.pi) - float(np.sum(np.log(np.diag(chol))))
  return jnp.log(s) + jnp.float32(log_norm)


def whitening(points: jax.Array, weights: jax.Array):
  """(whiten, log_normalizer) of scipy.stats.gaussian_kde's kernel for weighted points[n, d].

  The kernel covariance is the weighted sample covariance (normalised weights w, divided by
  1 - sum w^2) times Scott's factor squared, n_eff^(-2 / (d + 4)) with n_eff = 1 / sum w^2.
  whiten(x) = L^-1 (x - mean) for its Cholesky factor L, so the KDE is the isotropic kernel of
  bandwidth 1 on whitened points, and log_normalizer = -d/2 log(2 pi) - log det L. Jittable,
  float32 at the highest matmul precision; `full_covariance_log_kde` is the float64 host
  version (float32 whitening is ~5e-4 off scipy's log density in d = 5: the 1e-5 test needs
  float64).
  """
  x = points.astype(jnp.float32)
  d = x.shape[1]
  w = weights.astype(jnp.float32) / jnp.sum(weights)
  hi = jax.lax.Precision.HIGHEST
  sum_w2 = jnp.sum(w * w)
  mean = jnp.dot(w, x, precision=hi)
  xc = x - mean
  cov = jnp.dot((xc * w[:, None]).T, xc, precision=hi) / (1.0 - sum_w2)
  chol = jnp.linalg.cholesky(cov * sum_w2 ** (2.0 / (d + 4)))
  whiten = lambda v: jax.scipy.linalg.solve_triangular(  # noqa: E731
      chol, (v.astype(jnp.float32) - mean).T, lower=True).T
  log_norm = -0.5 * d * math.log(2.0 * math.pi) - jnp.sum(jnp.log(jnp.diag(chol)))
  return whiten, log_norm


def relative_density(p: jax.Array) -> jax.Array:
  """Eq. 8: min-max normalised density p' = (p - min p) / (max p - min p) in [0, 1], p[N] -> [N].

  When max p == min p (every item equally dense) there is nothing to rank: returns zeros, so
  h = 1 - p' is uniform.
  """
  lo, hi = jnp.min(p), jnp.max(p)
  span = hi - lo
  return jnp.where(span > 0, (p - lo) / jnp.where(span > 0, span, 1.0), 0.0)


def weight_change(w_new: jax.Array, w_old: jax.Array, norm: str = "l2") -> jax.Array:
  """||w_new - w_old|| for the stopping rule of Alg. 1 line 6: "l2" (paper) or "inf" (authors'
  code)."""
  diff = (w_new - w_old).astype(jnp.float32)
  if norm == "l2":
    return jnp.sqrt(jnp.sum(diff * diff))
  if norm == "inf":
    return jnp.max(jnp.abs(diff))
  raise ValueError(f"norm must be 'l2' or 'inf', got {norm!r}")


def sleep_update(
    item_emb: jax.Array,
    w: jax.Array,
    momentum: float,
    *,
    weighting: str = "relative",
    sample_size: int = 0,
    noise_std: float = 0.0,
    key: jax.Array | None = None,
    inverse_eps: float = 1e-4,
    covariance: str = "isotropic",
    support: jax.Array | None = None,
    block_q: int | None = None,
    block_n: int | None = None,
    mesh: Mesh | None = None,
    impl: str = "xla",
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """One sleep phase (Alg. 2): item_emb[N, d], w[N] -> (w_new[N], info).

  Paper (defaults): p = KDE of every item under all items weighted by w (Eq. 7), p' = relative
  density (Eq. 8), h = 1 - p', w_new = m w + (1 - m) h / sum(h) (Eq. 9). w_new sums to 1 when w does
  (w is not renormalised). Row r of item_emb / w is item id r + 1 (the padding id 0 is excluded).

  Authors' released code (options): `sample_size > 0` fits the KDE on `sample_size` items drawn
  with replacement with probability proportional to w, plus N(0, noise_std^2) noise, with uniform
  weights and Scott's bandwidth of that sample (needs `key`); `weighting="inverse"` uses
  h = 1 / (p + inverse_eps) with p the normalised density of `kde`; `covariance="full"` replaces
  the isotropic kernel by scipy.stats.gaussian_kde's (`whitening`: the weighted covariance of the
  KDE's points times Scott's factor of their effective n; bandwidth 1 after whitening); `support`
  (bool[N]) keeps the new weight h on those items only (the authors define weights on training
  targets alone), and the KDE sample is drawn from them. block_q, block_n, mesh, impl: as in
  `kernel_sums`.

  Info: bandwidth, log_normalizer, log_density_min/max (of the evaluated KDE), density_min/max,
  relative_density_mean, num_kde_points.
  """
  if weighting not in WEIGHTINGS:
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
  if covariance not in COVARIANCES:
    raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
  if sample_size > 0 and key is None:
    raise ValueError("sleep_update with sample_size > 0 needs a PRNG key")
  _check_shapes(item_emb, item_emb, w)
  support = jnp.ones(w.shape, bool) if support is None else jnp.asarray(support, bool)
  return _sleep_update(
      item_emb, w, momentum, key, support, weighting=weighting, sample_size=sample_size,
      noise_std=noise_std, inverse_eps=inverse_eps, covariance=covariance,
      **_static_kwargs(block_q, block_n, mesh, impl))


@functools.partial(jax.jit, static_argnames=(
    "weighting", "sample_size", "noise_std", "inverse_eps", "covariance", "block_q", "block_n",
    "mesh", "impl"))
def _sleep_update(item_emb, w, momentum, key, support, *, weighting, sample_size, noise_std,
                  inverse_eps, covariance, block_q, block_n, mesh, impl):
  """Jitted body of `sleep_update`."""
  item_emb = item_emb.astype(jnp.float32)
  w = w.astype(jnp.float32)
  n, d = item_emb.shape
  if sample_size > 0:
    key_idx, key_noise = jax.random.split(key)
    pick = jnp.where(support, w, 0.0)
    idx = jax.random.choice(key_idx, n, (sample_size,), replace=True, p=pick / jnp.sum(pick))
    points = item_emb[idx]
    if noise_std > 0:
      points = points + noise_std * jax.random.normal(key_noise, points.shape, jnp.float32)
    point_w = jnp.ones((sample_size,), jnp.float32)
  else:
    points, point_w = item_emb, jnp.where(support, w, 0.0)
  queries = item_emb
  if covariance == "full":
    whiten, log_norm = whitening(points, point_w)
    queries, points, bandwidth = whiten(queries), whiten(points), jnp.float32(1.0)
  else:
    bandwidth = scott_bandwidth(points)
    log_norm = _log_normalizer(bandwidth, d)
  s = _kernel_sums(
      queries, points, point_w, bandwidth, block_q=block_q, block_n=block_n, mesh=mesh, impl=impl)
  log_p = jnp.log(s) + log_norm
  # Eq. 8 is scale-free (the normaliser cancels); items off the support do not set its range.
  rel = relative_density(jnp.where(support, s, jnp.min(jnp.where(support, s, jnp.inf))))
  if weighting == "relative":
    h = 1.0 - rel
  else:
    h = 1.0 / (jnp.exp(log_p) + inverse_eps)
  h = jnp.where(support, h, 0.0)
  w_new = momentum * w + (1.0 - momentum) * h / jnp.sum(h)
  info = {
      "bandwidth": bandwidth,
      "log_normalizer": log_norm,
      "log_density_min": jnp.min(log_p),
      "log_density_max": jnp.max(log_p),
      "density_min": jnp.exp(jnp.min(log_p)),
      "density_max": jnp.exp(jnp.max(log_p)),
      "relative_density_mean": jnp.mean(rel),
      "num_kde_points": jnp.asarray(points.shape[0], jnp.int32),
  }
  return w_new, info
