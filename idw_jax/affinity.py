"""User-item affinity with several user representations (paper Sec. 3.1, Eq. 4).

Pure functions: (z[B, M, d], v[C, d]) -> s[B, C]. With M = 1 both reduce to the dot product.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

AFFINITIES = ("mixture", "max")


def _scores_bmc(z: jax.Array, v: jax.Array) -> jax.Array:
  """[B, M, C] layout: the reduction over M runs over contiguous C-vectors (3x faster on CPU)."""
  return jnp.einsum("bmd,cd->bmc", z, v, precision=jax.lax.Precision.HIGHEST)


# Past this many [B, M, C] logits (256 MB in float32) users go in blocks (memory bound).
BLOCK_ELEMENTS = 2 ** 26


def _mixture_block(z, v):
  """Eq. 4 for one block: s = sum_m p_m l_m, p = softmax_m(l); (s, residuals for the VJP)."""
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


def _grads(z, v, gl):
  """(dz, dv) from d loss / d logits gl[B, M, C]."""
  b, m, c = gl.shape
  hi = jax.lax.Precision.HIGHEST
  gz = jnp.einsum("bmc,cd->bmd", gl, v, precision=hi)
  # One [B*M, C]^T [B*M, d] product: 2x faster on CPU than einsum('bmc,bmd->cd').
  gv = jax.lax.dot_general(gl.reshape(b * m, c), z.reshape(b * m, -1),
                           (((0,), (0,)), ((), ())), precision=hi)
  return gz, gv


def _blocks(x, rows):
  """x[B, ...] -> [ceil(B / rows), rows, ...], zero-padded (padded rows are dropped after)."""
  n = -(-x.shape[0] // rows)
  x = jnp.pad(x, [(0, n * rows - x.shape[0])] + [(0, 0)] * (x.ndim - 1))
  return x.reshape(n, rows, *x.shape[1:])


def _with_vjp(block_fn, logit_grad):
  """An affinity (z, v, block_elements) -> s with a hand-written VJP, whole or in blocks.

  Autodiff re-derives the softmax (or max) through several [B, M, C] temporaries; here the
  gradient is formed from the saved logits in one pass (ML-1M training steps/s on CPU,
  `benchmarks/train_throughput.py`: mixture 1.2x, max 1.6x). Where the [B, M, C] logits
  exceed `block_elements`, users go in blocks of rows under `lax.map`/`lax.scan` and the
  backward pass recomputes each block's logits instead of saving them, so memory is O(block)
  instead of O(B M C). That costs time (ML-1M paper step on CPU with 2 blocks: 33 vs 56
  steps/s), hence the high default: it is a memory bound for very large batches, not a speed-up.
  """
  @jax.custom_vjp
  def whole(z, v):
    return block_fn(z, v)[0]

  def whole_fwd(z, v):
    s, res = block_fn(z, v)
    return s, (z, v, s, res)

  def whole_bwd(saved, g):
    z, v, s, res = saved
    gz, gv = _grads(z, v, logit_grad(g, s, res))
    return gz, gv.astype(v.dtype)

  whole.defvjp(whole_fwd, whole_bwd)

  @functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
  def blocked(z, v, rows):
    s = jax.lax.map(lambda zb: block_fn(zb, v)[0], _blocks(z, rows))
    return s.reshape(-1, v.shape[0])[:z.shape[0]]

  def blocked_fwd(z, v, rows):
    return blocked(z, v, rows), (z, v)

  def blocked_bwd(rows, saved, g):
    z, v = saved
    def body(gv, xs):                  # recompute the block, then its gradient
      zb, gb = xs                      # (padded rows have g = 0: no gradient)
      s, res = block_fn(zb, v)
      gz, gvb = _grads(zb, v, logit_grad(gb, s, res))
      return gv + gvb, gz
    gv, gz = jax.lax.scan(body, jnp.zeros(v.shape, jnp.float32),
                          (_blocks(z, rows), _blocks(g, rows)))
    return gz.reshape(-1, *z.shape[1:])[:z.shape[0]], gv.astype(v.dtype)

  blocked.defvjp(blocked_fwd, blocked_bwd)

  def fn(z: jax.Array, v: jax.Array, block_elements: int = BLOCK_ELEMENTS) -> jax.Array:
    rows = max(1, block_elements // max(z.shape[1] * v.shape[0], 1))
    return whole(z, v) if rows >= z.shape[0] else blocked(z, v, rows)
  return fn


_mixture = _with_vjp(_mixture_block, _mixture_logit_grad)
_max = _with_vjp(_max_block, _max_logit_grad)


def mixture_affinity(z: jax.Array, v: jax.Array, block_elements: int = BLOCK_ELEMENTS
                     ) -> jax.Array:
  """Eq. 4: s = z_u^T v with z_u = sum_m softmax_m(z_m^T v) z_m, i.e. sum_m softmax(l)_m l_m.

  Hand-written VJP, in blocks of users past `block_elements` logits (see `_with_vjp`); both
  paths are tested against float64 central differences of the numpy formula.
  """
  return _mixture(z, v, block_elements)


def max_affinity(z: jax.Array, v: jax.Array, block_elements: int = BLOCK_ELEMENTS
                 ) -> jax.Array:
  """Max over interests, as in the authors' released code: s = max_m z_m^T v."""
  return _max(z, v, block_elements)


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
