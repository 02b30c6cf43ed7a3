"""Batch softmax with logQ correction (Eq. 1-3) and every loss re-weighting of the paper.

One pure function covers the unweighted loss (Eq. 3), per-item weights (frequency balance
Eq. 5, IDW Eq. 10), focal loss, Qmargin (LDAM) and item norm; the per-item tables
(weights, margins) are built here too so that each baseline is a few lines of math.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from idw_jax import affinity as affinity_lib


def normalize_items(v: jax.Array, eps: float = 1e-12) -> jax.Array:
  """L2-normalised item embeddings (Item Norm baseline)."""
  return v * jax.lax.rsqrt(jnp.maximum(jnp.sum(v * v, axis=-1, keepdims=True), eps))


def in_batch_candidates(targets: jax.Array, valid: jax.Array, dedup_size: int | None = None
                        ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The candidates of Eq. 1: the batch's targets, optionally merged into distinct items.

  Merging copies of the same item into one column with a multiplicity is exact (the softmax
  denominator sums n_c exp(l_c)) and much cheaper when items repeat within a batch (the
  synthetic catalogue has 50 items and a batch 2,000 targets).

  Args:
    targets: int32[N]; valid: bool[N].
    dedup_size: None keeps one column per example; else the static number of distinct
      columns C (must exceed the number of distinct valid targets).
  Returns:
    cand_ids int32[C], cand_count float32[C] (0 for padding columns), pos int32[N] (column
    of each example's positive).
  """
  if dedup_size is None:
    return targets, valid.astype(jnp.float32), jnp.arange(targets.shape[0], dtype=jnp.int32)
  sentinel = jnp.iinfo(jnp.int32).max
  keyed = jnp.where(valid, targets, sentinel)
  cand_ids, pos = jnp.unique(keyed, size=dedup_size, fill_value=sentinel, return_inverse=True)
  pos = pos.reshape(-1).astype(jnp.int32)
  count = jax.ops.segment_sum(valid.astype(jnp.float32), pos, num_segments=dedup_size)
  return jnp.where(cand_ids == sentinel, 0, cand_ids), count, pos


def candidate_softmax_loss(z: jax.Array, cand_v: jax.Array, cand_ids: jax.Array,
                           cand_count: jax.Array, cand_log_q: jax.Array, targets: jax.Array,
                           pos: jax.Array, valid: jax.Array, example_weight: jax.Array, *,
                           affinity: str = "mixture", use_logq: bool = True,
                           remove_accidental_hits: bool = False, temperature: float = 1.0,
                           focal_gamma: float = 0.0, margin: jax.Array | None = None
                           ) -> tuple[jax.Array, dict]:
  """In-batch softmax loss of N examples against C candidate columns with multiplicities.

  Logits are affinity / temperature, minus log p(y) of the candidate when use_logq (Eq. 2),
  minus margin[i] on the example's own positive copy (Qmargin). The denominator counts every
  copy of every in-batch target (Eq. 1); with remove_accidental_hits the other copies of the
  positive are left out. Loss = sum_i e_i * l_i / #valid, with l_i the cross entropy (or the
  focal loss (1 - P)^gamma * CE).

  Args:
    z: [N, M, d] user representations; cand_v: [C, d] candidate item embeddings.
    cand_ids, cand_count, cand_log_q: [C] candidate ids, multiplicities, log p(y).
    targets: int32[N]; pos: int32[N] column of each example's positive; valid: bool[N].
    example_weight: [N]; margin: optional [N].
  Returns:
    (scalar loss, {"ce": mean unweighted cross entropy, "count": #valid}).
  """
  logits = affinity_lib.affinity(z, cand_v, affinity) / temperature     # [N, C]
  if use_logq:
    logits = logits - cand_log_q[None, :]
  n, c = logits.shape
  is_pos = jnp.arange(c)[None, :] == pos[:, None]
  pos_logit = jnp.take_along_axis(logits, pos[:, None], axis=1)[:, 0]
  own = pos_logit - (0.0 if margin is None else margin)                  # the example's own copy
  others = cand_count[None, :] - is_pos                                  # remaining copies
  if remove_accidental_hits:
    others = jnp.where(cand_ids[None, :] == targets[:, None], 0.0, others)
  rest = jnp.where(others > 0, logits + jnp.log(jnp.maximum(others, 1.0)), -jnp.inf)
  log_den = jnp.logaddexp(own, jax.nn.logsumexp(rest, axis=-1))
  log_p = own - log_den
  ce = -log_p
  per_example = ce if focal_gamma == 0 else (1.0 - jnp.exp(log_p)) ** focal_gamma * ce
  count = jnp.maximum(jnp.sum(valid), 1)
  loss = jnp.sum(jnp.where(valid, example_weight * per_example, 0.0)) / count
  return loss, {"ce": jnp.sum(jnp.where(valid, ce, 0.0)) / count, "count": jnp.sum(valid)}


def batch_softmax_loss(z: jax.Array, v: jax.Array, targets: jax.Array, valid: jax.Array,
                       log_q: jax.Array, example_weight: jax.Array, **kwargs
                       ) -> tuple[jax.Array, dict]:
  """Eq. 1-3 with one candidate column per example: v[N, d], log_q[N] of each target.

  Same keyword options as `candidate_softmax_loss`.
  """
  cand_ids, count, pos = in_batch_candidates(targets, valid)
  return candidate_softmax_loss(z, v, cand_ids, count, log_q, targets, pos, valid,
                                example_weight, **kwargs)


# Per-item tables (numpy, float64 in, float32 out); index 0 is the padding id.

def example_weights(item_weight: np.ndarray, item_prob: np.ndarray, mode: str = "share"
                    ) -> np.ndarray:
  """Per-example weight e_y of target y for item weights w, rescaled to mean 1 over targets.

  mode "share" (default, docs/design.md): e_y proportional to w_y / p(y): w is the share of loss
  mass per item, so w = p gives the unweighted loss (Eq. 3) and w uniform gives frequency
  balance (Eq. 5). mode "literal": e_y proportional to w_y, Eq. 10 read per example.
  """
  w = np.asarray(item_weight, np.float64)
  p = np.asarray(item_prob, np.float64)
  seen = p > 0
  e = np.zeros_like(w)
  if mode == "share":
    e[seen] = w[seen] / p[seen]
  elif mode == "literal":
    e[seen] = w[seen]
  else:
    raise ValueError(f"idw.example_weight must be 'share' or 'literal', got {mode!r}")
  mean = np.sum(p * e)
  if not np.isfinite(mean) or mean <= 0:
    raise ValueError("item weights give zero total loss mass over the training targets")
  return (e / mean).astype(np.float32)


def uniform_item_weight(item_prob: np.ndarray) -> np.ndarray:
  """Equal loss mass for every item that is a training target: frequency balance (Eq. 5)."""
  seen = np.asarray(item_prob) > 0
  return seen / seen.sum()


def qmargin_table(train_counts: np.ndarray, max_margin: float) -> np.ndarray:
  """LDAM margins delta_y proportional to n_y^(-1/4), the largest equal to max_margin."""
  n = np.asarray(train_counts, np.float64)
  delta = np.zeros_like(n)
  seen = n > 0
  delta[seen] = n[seen] ** -0.25
  if seen.any():
    delta *= max_margin / delta[seen].max()
  return delta.astype(np.float32)


def log_q_table(item_prob: np.ndarray) -> np.ndarray:
  """log p(y) for the logQ correction; items never seen as targets get log(1/total)."""
  p = np.asarray(item_prob, np.float64)
  floor = p[p > 0].min() if np.any(p > 0) else 1.0
  return np.log(np.maximum(p, floor)).astype(np.float32)
