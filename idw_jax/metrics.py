"""Evaluation metrics (paper Sec. 4.2; mean silhouette from Sec. 3.2).

Ranks are 0-based: rank 0 is the top of the list. Ties count AGAINST the target
(pessimistic): the rank of a target with score t is the number of other candidates whose
score is not strictly below t,
    rank = #{others: s > t} + #{others: s == t} (+ #{others: s or t is NaN}),
so a model that scores every item the same gets rank = #candidates - 1 and no hits, and a NaN
score never helps the target. From a rank r:
    HR@K = 1[r < K],   NDCG@K = 1 / log2(r + 2) if r < K else 0,
averaged over queries and reported in percent.

Two protocols: sampled (the positive against 99 sampled negatives, `sampled_ranks`) and
full-corpus (the positive against every catalogue item, `full_corpus_ranks`, blocked on both
axes so memory is O(block_q x block_items), never Q x N; one jitted pass, queries optionally
split over a device mesh), optionally without each query's own history items (`exclude`: the
leave-one-out protocol's second full ranking).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from idw_jax import sharding

ScoreFn = Callable[[jax.Array, jax.Array], jax.Array]


def sampled_ranks(scores: jax.Array) -> jax.Array:
  """Rank of the positive among its sampled candidates (pessimistic ties).

  Args:
    scores: [Q, 1 + K]; column 0 is the positive, columns 1..K the negatives.

  Returns:
    int32[Q], 0-based ranks in 0..K.
  """
  scores = jnp.asarray(scores)
  target = scores[:, :1]
  return jnp.sum(~(scores[:, 1:] < target), axis=1).astype(jnp.int32)


def history_mask(first: jax.Array, b: int, rows_of: jax.Array, items_of: jax.Array,
                 targets: jax.Array, width: int) -> jax.Array:
  """bool[b, width]: column i - 1 is True where item i is in the history of query first + r
  (row r), except the query's own target, which is always ranked.

  rows_of, items_of: int32[E], the query and item of every history entry (all queries; those
  outside this block are dropped)."""
  local = rows_of - first
  local = jnp.where((local >= 0) & (local < b), local, b)     # not this block's: dropped
  mask = jnp.zeros((b, width), bool).at[local, items_of - 1].set(True, mode="drop")
  return mask & (jnp.arange(width)[None, :] != (targets.astype(jnp.int32) - 1)[:, None])


def _scan_items(score_fn: ScoreFn, z: jax.Array, item_blocks: jax.Array, targets: jax.Array,
                target_scores: jax.Array, num_items: int, banned: jax.Array | None = None):
  """One pass over all item blocks for one query block (the two-pass fallback).

  Both passes of `_two_pass_ranks` run this same compiled function, so the target's score
  found in the first pass is bitwise the score compared against in the second.

  Args:
    score_fn: (z[b, M, d], v[c, d]) -> [b, c].
    z: [b, M, d] user representations.
    item_blocks: [nb, c, d], embeddings of items 1..N in blocks of c (last block zero-padded).
    targets: int32[b], target item ids in 1..N.
    target_scores: [b], the scores to rank against (ignored for the extracted output).
    num_items: N.
    banned: optional bool[b, nb * c], items left out of the count (`history_mask`).

  Returns:
    (extracted [b]: each query's score of its own target; rank int32[b]: the number of
    non-target items whose score is not below target_scores).
  """
  b = z.shape[0]
  c = item_blocks.shape[1]
  col = jnp.arange(c, dtype=jnp.int32)
  rows = jnp.arange(b)
  index = targets.astype(jnp.int32) - 1  # position of the target among items 1..N

  def body(carry, xs):
    extracted, rank = carry
    v, start = xs
    s = score_fn(z, v)  # [b, c]
    local = index - start
    here = (local >= 0) & (local < c)
    picked = s[rows, jnp.clip(local, 0, c - 1)]
    extracted = jnp.where(here, picked.astype(extracted.dtype), extracted)
    ids = start + col  # [c]
    counted = (ids < num_items)[None, :] & (ids[None, :] != index[:, None])
    counted &= ~(s < target_scores[:, None])
    if banned is not None:
      counted &= ~jax.lax.dynamic_slice_in_dim(banned, start, c, axis=1)
    return (extracted, rank + jnp.sum(counted, axis=1, dtype=jnp.int32)), None

  starts = jnp.arange(item_blocks.shape[0], dtype=jnp.int32) * c
  init = (jnp.zeros(b, target_scores.dtype), jnp.zeros(b, jnp.int32))
  (extracted, rank), _ = jax.lax.scan(body, init, (item_blocks, starts))
  return extracted, rank


_scan_items_jit = jax.jit(_scan_items, static_argnames=("score_fn", "num_items"))


def _one_pass_block(score_fn: ScoreFn, z: jax.Array, targets: jax.Array, items: jax.Array,
                    item_blocks: jax.Array, num_items: int, score_dtype,
                    banned: jax.Array | None = None):
  """Ranks of one query block in one pass over the items; see `full_corpus_ranks`.

  A single `lax.scan` runs ONE loop body over [kt target blocks; nb item blocks]. The
  target blocks hold the queries' own target embeddings (query i's target at column i - k c
  of target block k), so the first kt steps read each query's target score off the same
  compiled score tile as the item steps that follow and count against it. The item steps
  also read the target's score where it lies in the catalogue, to verify bitwise equality.

  Args:
    score_fn: (z[b, M, d], v[c, d]) -> [b, c].
    z: [b, M, d]; targets: int32[b] in 1..N.
    items: [N + 1, d] item table (row 0 padding); item_blocks: [nb, c, d] items 1..N.
    num_items: N.
    score_dtype: dtype of score_fn's output.
    banned: optional bool[b, nb * c], items left out of the count (`history_mask`).

  Returns:
    (rank int32[b], ok bool[b]: False where the verification failed and the rank must be
    recomputed by the two-pass method).
  """
  b = z.shape[0]
  nb, c, d = item_blocks.shape
  kt = -(-b // c)
  tv = jnp.pad(items[targets], ((0, kt * c - b), (0, 0))).reshape(kt, c, d)
  blocks = jnp.concatenate([tv, item_blocks])
  col = jnp.arange(c, dtype=jnp.int32)
  rows = jnp.arange(b, dtype=jnp.int32)
  index = targets.astype(jnp.int32) - 1

  def body(carry, xs):
    t_score, check, rank = carry
    v, k = xs
    s = score_fn(z, v)  # [b, c]
    is_target_step = k < kt
    start = jnp.where(is_target_step, k, k - kt) * c
    local = jnp.where(is_target_step, rows, index) - start
    here = (local >= 0) & (local < c)
    picked = s[rows, jnp.clip(local, 0, c - 1)].astype(score_dtype)
    t_score = jnp.where(here & is_target_step, picked, t_score)
    check = jnp.where(here & ~is_target_step, picked, check)
    ids = start + col
    counted = ((ids < num_items)[None, :] & (ids[None, :] != index[:, None])
               & ~(s < t_score[:, None]) & ~is_target_step)
    if banned is not None:
      counted &= ~jax.lax.dynamic_slice_in_dim(banned, start, c, axis=1)
    return (t_score, check, rank + jnp.sum(counted, axis=1, dtype=jnp.int32)), None

  init = (jnp.zeros(b, score_dtype), jnp.zeros(b, score_dtype), jnp.zeros(b, jnp.int32))
  steps = jnp.arange(kt + nb, dtype=jnp.int32)
  (t_score, check, rank), _ = jax.lax.scan(body, init, (blocks, steps))
  ok = (t_score == check) | (jnp.isnan(t_score) & jnp.isnan(check))
  return rank, ok


@functools.partial(jax.jit, static_argnames=("score_fn", "num_items", "block_q", "mesh",
                                             "score_dtype"))
def _one_pass(z, targets, items, item_blocks, exclude=None, *, score_fn, num_items, block_q,
              mesh, score_dtype):
  """`_one_pass_block` over query blocks of z[Qp] (lax.map; split over the mesh's devices).
  exclude: None, or (query index int32[Qp], rows_of int32[E], items_of int32[E]) of the
  history items to leave out (`history_mask`)."""
  if exclude is None:
    def fn(zb, tb, items_, blocks_):
      return _one_pass_block(score_fn, zb, tb, items_, blocks_, num_items, score_dtype)
    return sharding.map_blocks(fn, mesh, block_q, (z, targets), (items, item_blocks))
  qidx, rows_of, items_of = exclude
  width = item_blocks.shape[0] * item_blocks.shape[1]

  def fn_excluding(zb, tb, qb, items_, blocks_, rows_, hist_):
    banned = history_mask(qb[0], zb.shape[0], rows_, hist_, tb, width)
    return _one_pass_block(score_fn, zb, tb, items_, blocks_, num_items, score_dtype, banned)
  return sharding.map_blocks(fn_excluding, mesh, block_q, (z, targets, qidx),
                             (items, item_blocks, rows_of, items_of))


def _two_pass_ranks(score_fn, z, item_blocks, targets_np, num_items, block_q, exclude=None):
  """The two-pass method (extract the target score, then count) for a few queries; exclude:
  (offsets, items) CSR of their history items, as `full_corpus_ranks` takes it."""
  q = z.shape[0]
  bq = max(1, min(int(block_q), q))
  score_dtype = jax.eval_shape(score_fn, z[:1], item_blocks[0]).dtype
  width = item_blocks.shape[0] * item_blocks.shape[1]
  ranks = []
  for lo in range(0, q, bq):
    zb, tb = z[lo:lo + bq], targets_np[lo:lo + bq]
    pad = bq - zb.shape[0]
    banned = None
    if exclude is not None:
      off, hist = exclude
      rows = np.repeat(np.arange(q), np.diff(off))
      sel = (rows >= lo) & (rows < lo + bq)
      banned = np.zeros((bq, width), bool)
      banned[rows[sel] - lo, hist[sel] - 1] = True
      banned[np.arange(tb.size), tb - 1] = False
    if pad:
      zb = jnp.pad(zb, ((0, pad), (0, 0), (0, 0)))
      tb = np.pad(tb, (0, pad), constant_values=1)
    tb = jnp.asarray(tb)
    dummy = jnp.zeros(bq, score_dtype)
    target_scores, _ = _scan_items_jit(score_fn, zb, item_blocks, tb, dummy, num_items)
    _, rank = _scan_items_jit(score_fn, zb, item_blocks, tb, target_scores, num_items, banned)
    ranks.append(np.asarray(rank[:bq - pad]))
  return np.concatenate(ranks)


def full_corpus_ranks(z: jax.Array, item_emb: jax.Array, targets: jax.Array,
                      score_fn: ScoreFn, *, block_q: int = 512, block_items: int = 1024,
                      mesh: Mesh | None = None, exclude=None) -> jax.Array:
  """Rank of each target among ALL catalogue items 1..N (pessimistic ties), blocked.

  One jitted call: query blocks of `block_q` are mapped with `lax.map` (split over the
  devices of `mesh`, if given, with `jax.shard_map`), and each block scans the items in
  blocks of `block_items` (the last block padded and masked). Memory is
  O(block_q x block_items) per device, never Q x N.

  One pass per query block: the scan first scores each query against a tile holding its
  own target embedding (ceil(block_q / block_items) extra tiles), then counts the items
  scoring at least as high, with the same compiled loop body, so ties with the target are
  exact. The target's score is also read where it lies in the catalogue; queries whose two
  readings are not bitwise equal (a backend whose tile scores depended on the column) are
  re-ranked with the two-pass method (extract, then count), so the result is exact always.

  Tiles small enough for the [b, c, M] affinity tile to stay in cache run fastest on CPU
  (eval.block_users / eval.block_items; measure with benchmarks/eval.py).

  Args:
    z: [Q, M, d] user representations (M = 1 for a single representation).
    item_emb: [N + 1, d] item embeddings; row 0 is padding and is never ranked.
    targets: int[Q], target item ids in 1..N.
    score_fn: affinity (z[b, M, d], v[c, d]) -> [b, c], e.g.
      `idw_jax.affinity.mixture_affinity`; must be hashable (a function, not a lambda made
      anew per call, to reuse the compiled code).
    block_q: queries per block (clipped to the block of items actually used and to the
      queries per device).
    block_items: items per block (clipped to N).
    mesh: optional 1-D mesh with axis "data" (`sharding.data_mesh()`) to split queries over.
    exclude: optional CSR (offsets int[Q+1], items int[E] in 1..N) of items each query leaves
      out of its ranking (the user's history; its own target is ranked even if listed).

  Returns:
    int32[Q], 0-based ranks in 0..N-1 (without the excluded items, in 0..N-1-#excluded).
  """
  z = jnp.asarray(z)
  item_emb = jnp.asarray(item_emb)
  targets_np = np.asarray(targets, dtype=np.int32)
  q, n = z.shape[0], item_emb.shape[0] - 1
  if z.ndim != 3 or item_emb.ndim != 2 or z.shape[2] != item_emb.shape[1]:
    raise ValueError(f"full_corpus_ranks: need z [Q, M, d] and item_emb [N+1, d], got "
                     f"{z.shape} and {item_emb.shape}")
  if targets_np.shape != (q,):
    raise ValueError(f"full_corpus_ranks: targets must have shape ({q},), got "
                     f"{targets_np.shape}")
  if q == 0:
    return jnp.zeros(0, jnp.int32)
  if n < 1 or targets_np.min() < 1 or targets_np.max() > n:
    raise ValueError(f"full_corpus_ranks: targets must lie in 1..{n}")
  mesh = sharding.check_mesh(mesh)

  # Item blocks of about block_items, sized to waste little padding.
  nb = -(-n // max(1, min(int(block_items), n)))
  c = -(-n // nb)
  items = jnp.pad(item_emb[1:], ((0, nb * c - n), (0, 0))).reshape(nb, c, -1)
  # block_q <= c keeps the target tiles to one per query block (a pass costs 1 + 1/nb tiles).
  bq, padded = sharding.block_layout(q, min(int(block_q), c), mesh, multiple=1)
  score_dtype = jax.eval_shape(score_fn, z[:1], items[0]).dtype
  zp = sharding.pad_rows(z, padded)
  tp = jnp.asarray(sharding.pad_rows(targets_np, padded))
  if mesh is not None:
    zp, tp = sharding.shard_leading(zp, mesh), sharding.shard_leading(tp, mesh)
  excl = None
  if exclude is not None:
    off, hist = np.asarray(exclude[0], np.int64), np.asarray(exclude[1], np.int32)
    if off.shape != (q + 1,) or off[0] != 0 or off[-1] != hist.size or (
        hist.size and (hist.min() < 1 or hist.max() > n)):
      raise ValueError(f"full_corpus_ranks: exclude must be CSR (offsets [{q + 1}], items in "
                       f"1..{n}), got offsets {off.shape} and {hist.size} items")
    qidx = np.arange(padded, dtype=np.int32)
    if mesh is not None:
      qidx = sharding.shard_leading(qidx, mesh)
    rows_of = np.repeat(np.arange(q, dtype=np.int32), np.diff(off))
    excl = (jnp.asarray(qidx), *sharding.replicate((rows_of, hist), mesh))
  rank, ok = _one_pass(zp, tp, item_emb, items, excl, score_fn=score_fn, num_items=n,
                       block_q=bq, mesh=mesh, score_dtype=jnp.dtype(score_dtype))
  rank, ok = sharding.to_host(rank)[:q], sharding.to_host(ok)[:q]
  if not ok.all():
    redo = np.flatnonzero(~ok)
    rank = rank.copy()
    sub = None
    if exclude is not None:
      lens = np.diff(off)[redo]
      sub = (np.concatenate([[0], np.cumsum(lens)]),
             np.concatenate([hist[off[r]:off[r + 1]] for r in redo]))
    rank[redo] = _two_pass_ranks(score_fn, z[redo], items, targets_np[redo], n, bq, sub)
  return jnp.asarray(rank)


def rank_metrics(ranks, ks: Sequence[int] = (5, 20)) -> dict[str, float]:
  """HR@K and NDCG@K in percent from 0-based ranks.

  Args:
    ranks: int[Q], 0-based ranks.
    ks: cut-offs.

  Returns:
    {"HR@k": float, "NDCG@k": float for k in ks, "count": Q}; NaN metrics when Q = 0.
  """
  r = np.asarray(ranks, dtype=np.float64).reshape(-1)
  out: dict[str, float] = {}
  for k in ks:
    hit = r < k
    if r.size:
      out[f"HR@{k}"] = float(100.0 * hit.mean())
      out[f"NDCG@{k}"] = float(100.0 * np.where(hit, 1.0 / np.log2(r + 2.0), 0.0).mean())
    else:
      out[f"HR@{k}"] = out[f"NDCG@{k}"] = float("nan")
  out["count"] = int(r.size)
  return out


def split_metrics(ranks, targets, is_head, ks: Sequence[int] = (5, 20),
                  is_head_cluster=None) -> dict[str, dict]:
  """Metrics over all queries and over those whose target is a head or a tail item (and, with
  is_head_cluster, a head-cluster or tail-cluster item).

  Args:
    ranks: int[Q], 0-based ranks.
    targets: int[Q], target item ids.
    is_head: bool[N + 1] from `idw_jax.data.protocol.head_items`.
    ks: cut-offs.
    is_head_cluster: optional bool[N + 1] from `idw_jax.data.protocol.head_clusters`.

  Returns:
    {"overall": rank_metrics(...), "head": ..., "tail": ...}, plus "head_clusters" and
    "tail_clusters" with is_head_cluster.
  """
  ranks = np.asarray(ranks).reshape(-1)
  targets = np.asarray(targets).reshape(-1)
  head = np.asarray(is_head)[targets]
  out = {"overall": rank_metrics(ranks, ks), "head": rank_metrics(ranks[head], ks),
         "tail": rank_metrics(ranks[~head], ks)}
  if is_head_cluster is not None:
    hc = np.asarray(is_head_cluster)[targets]
    out["head_clusters"] = rank_metrics(ranks[hc], ks)
    out["tail_clusters"] = rank_metrics(ranks[~hc], ks)
  return out


def mean_silhouette(emb, clusters) -> float:
  """Mean silhouette (Sec. 3.2) of embeddings under ground-truth clusters, euclidean.

  s_p = (b_p - a_p) / max(a_p, b_p) with a_p the mean distance to the other members of p's
  cluster and b_p the smallest mean distance to another cluster, averaged over points
  (`sklearn.metrics.silhouette_score`; a point alone in its cluster scores 0 there).

  Args:
    emb: [N, d] embeddings.
    clusters: int[N] cluster labels; entries < 0 (e.g. the padding item's -1 in
      `UserSequences.clusters`) are left out.

  Returns:
    The mean silhouette in [-1, 1].
  """
  emb = np.asarray(emb, dtype=np.float64)
  labels = np.asarray(clusters).reshape(-1)
  if emb.ndim != 2 or emb.shape[0] != labels.size:
    raise ValueError(f"mean_silhouette: need emb [N, d] and clusters [N], got {emb.shape} and "
                     f"{labels.shape}")
  keep = labels >= 0
  from sklearn import metrics as sk_metrics   # here, not at the top: importing sklearn costs ~2 s
  return float(sk_metrics.silhouette_score(emb[keep], labels[keep], metric="euclidean"))


def primary_kind(evaluation: dict) -> str:
  """The ranking the paper reports for an evaluation {"sampled": ..., "full": ...}: "sampled"
  where the dataset has the sampled protocol (a catalogue of more than 100 items), else
  "full"."""
  return "sampled" if evaluation.get("sampled") else "full"
