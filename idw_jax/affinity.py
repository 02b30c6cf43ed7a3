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


def mixture_affinity(z: jax.Array, v: jax.Array) -> jax.Array:
  """Eq. 4: s = z_u^T v with z_u = sum_m softmax_m(z_m^T v) z_m, i.e. sum_m softmax(l)_m l_m."""
  logits = _scores_bmc(z, v)
  return jnp.sum(jax.nn.softmax(logits, axis=1) * logits, axis=1)


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
