"""User-item affinity with several user representations (paper Sec. 3.1, Eq. 4).

Pure functions: (z[B, M, d], v[C, d]) -> s[B, C]. With M = 1 both reduce to the dot product.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

AFFINITIES = ("mixture", "max")


def _scores_bmc(z: jax.Array, v: jax.Array) -> jax.Array:
  """[B, M, C] layout: the reduction over M runs over contiguous C-vectors (faster on CPU: fewer
  strided reads)."""
  return jnp.einsum("bmd,cd->bmc", z, v, precision=jax.lax.Precision.HIGHEST)


def _mixture_block(z, v):
  """Eq. 4: s = sum_m p_m l_m, p = softmax_m(l); (s, residuals for the VJP)."""
  logits = _scores_bmc(z, v)                                      # [B, M, C]
  p = jax.nn.softmax(logits, axis=1)
  return jnp.sum(p * logits, axis=1), (logits, p)                 # [B, C]


def _mixture_logit_grad(g, s, res):
  logits, p = res
  return (g[:, None, :] * p) * (1.0 + logits - s[:, None, :])   # ds/dl_m = p_m (1 + l_m - s)


def _max_block(z, v):
  logits = _scores_bmc(z, v)
  return jnp.max(logits, axis=1), (logits,)


def _max_logit_grad(g, s, res):
  """The gradient goes to the maximal interest (split equally on ties, as jnp.max's)."""
  hit = (res[0] == s[:, None, :]).astype(g.dtype)
  return g[:, None, :] * hit / jnp.sum(hit, axis=1, keepdims=True)


def _with_vjp(block_fn, logit_grad):
  """An affinity (z, v) -> s whose VJP is formed from the saved logits in one pass.

  Autodiff re-derives the softmax (or max) through several [B, M, C] temporaries; the
  hand-written gradient makes training steps faster (measure with
  `benchmarks/train_throughput.py`).
  """
  @jax.custom_vjp
  def fn(z, v):
    return block_fn(z, v)[0]

  def fwd(z, v):
    s, res = block_fn(z, v)
    return s, (z, v, s, res)

  def bwd(saved, g):
    z, v, s, res = saved
    gl = logit_grad(g, s, res)                                    # d loss / d logits [B, M, C]
    b, m, c = gl.shape
    hi = jax.lax.Precision.HIGHEST
    gz = jnp.einsum("bmc,cd->bmd", gl, v, precision=hi)
    if z.shape[-1] > 4:
      # One [B*M, C]^T [B*M, d] product: faster on CPU than einsum('bmc,bmd->cd').
      gv = jax.lax.dot_general(gl.reshape(b * m, c), z.reshape(b * m, -1),
                               (((0,), (0,)), ((), ())), precision=hi)
    else:   # a [C, <= 4] output: the einsum lowers better (d = 4: +12% a training step)
      gv = jnp.einsum("bmc,bmd->cd", gl, z, precision=hi)
    return gz, gv.astype(v.dtype)

  fn.defvjp(fwd, bwd)
  return fn


_mixture = _with_vjp(_mixture_block, _mixture_logit_grad)
_max = _with_vjp(_max_block, _max_logit_grad)


def mixture_affinity(z: jax.Array, v: jax.Array) -> jax.Array:
  """Eq. 4: s = z_u^T v with z_u = sum_m softmax_m(z_m^T v) z_m, i.e. sum_m softmax(l)_m l_m.

  Hand-written VJP (`_with_vjp`), tested against float64 central differences of the numpy
  formula.
  """
  return _mixture(z, v)


def max_affinity(z: jax.Array, v: jax.Array) -> jax.Array:
  """Max over interests, as in the authors' released code: s = max_m z_m^T v."""
  return _max(z, v)


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
