"""User-item affinity with several user representations (paper Sec. 3.1, Eq. 4).

Pure functions: (z[B, M, d], v[C, d]) -> s[B, C]. With M = 1 both reduce to the dot product.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

AFFINITIES = ("mixture", "max")


def _scores_bmc(z: jax.Array, v: jax.Array) -> jax.Array:
  """[B, M, C] layout: the reduction over M runs over contiguous C-vectors (3x faster on CPU)."""
  return jnp.einsum("bmd,cd->bmc", z, v, precision=jax.lax.Precision.HIGHEST)


@jax.custom_vjp
def mixture_affinity(z: jax.Array, v: jax.Array) -> jax.Array:
  """Eq. 4: s = z_u^T v with z_u = sum_m softmax_m(z_m^T v) z_m, i.e. sum_m softmax(l)_m l_m.

  The gradient is written by hand (ds/dl_m = p_m (1 + l_m - s)) from saved l, p and s:
  autodiff of the softmax re-derives it through several [B, M, C] temporaries, and the
  ML-1M every-prefix step is 1.2-1.3x faster this way on CPU (benchmarks/train_throughput.py).
  Tested against float64 central differences of the numpy formula.
  """
  return _mixture_fwd(z, v)[0]


def _mixture_fwd(z, v):
  logits = _scores_bmc(z, v)                                      # [B, M, C]
  p = jax.nn.softmax(logits, axis=1)
  s = jnp.sum(p * logits, axis=1)                                 # [B, C]
  return s, (z, v, logits, p, s)


def _mixture_bwd(res, g):
  z, v, logits, p, s = res
  gl = (g[:, None, :] * p) * (1.0 + logits - s[:, None, :])     # d loss / d logits
  b, m, c = gl.shape
  hi = jax.lax.Precision.HIGHEST
  gz = jnp.einsum("bmc,cd->bmd", gl, v, precision=hi)
  # One [B*M, C]^T [B*M, d] product: 2x faster on CPU than einsum('bmc,bmd->cd').
  gv = jax.lax.dot_general(gl.reshape(b * m, c), z.reshape(b * m, -1),
                           (((0,), (0,)), ((), ())), precision=hi)
  return gz, gv.astype(v.dtype)


mixture_affinity.defvjp(_mixture_fwd, _mixture_bwd)


def max_affinity(z: jax.Array, v: jax.Array) -> jax.Array:
  """Max over interests, as in the authors' released code: s = max_m z_m^T v."""
  return jnp.max(_scores_bmc(z, v), axis=1)


def affinity(z: jax.Array, v: jax.Array, kind: str = "mixture") -> jax.Array:
  """Affinity s[B, C] of B users (M representations each) with C candidate items."""
  if kind == "mixture":
    return mixture_affinity(z, v)
  if kind == "max":
    return max_affinity(z, v)
  raise ValueError(f"model.affinity must be one of {AFFINITIES}, got {kind!r}")


def affinity_rows(z: jax.Array, v: jax.Array, kind: str = "mixture") -> jax.Array:
  """Affinity of each user with its own candidates: z[B, M, d], v[B, C, d] -> s[B, C]."""
  logits = jnp.einsum("bmd,bcd->bcm", z, v, precision=jax.lax.Precision.HIGHEST)
  if kind == "mixture":
    return jnp.sum(jax.nn.softmax(logits, axis=-1) * logits, axis=-1)
  if kind == "max":
    return jnp.max(logits, axis=-1)
  raise ValueError(f"model.affinity must be one of {AFFINITIES}, got {kind!r}")
