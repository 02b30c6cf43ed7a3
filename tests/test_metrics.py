"""Tests for the evaluation metrics (paper Sec. 4.2, Sec. 3.2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from idw_jax import affinity
from idw_jax import metrics
from idw_jax.data import protocol

INV_LOG2 = {r: 1.0 / np.log2(r + 2.0) for r in range(30)}  # NDCG gain at 0-based rank r


def brute_force_ranks(z, item_emb, targets, kind):
  """float64 numpy reference: every item 1..N scored at once, pessimistic ties."""
  z = np.asarray(z, np.float64)
  v = np.asarray(item_emb, np.float64)[1:]
  logits = np.einsum("qmd,nd->qnm", z, v)
  if kind == "max":
    s = logits.max(axis=-1)
  else:
    w = np.exp(logits - logits.max(axis=-1, keepdims=True))
    s = np.sum(w / w.sum(axis=-1, keepdims=True) * logits, axis=-1)
  idx = np.asarray(targets) - 1
  t = s[np.arange(len(idx)), idx]
  beats = ~(s < t[:, None])
  beats[np.arange(len(idx)), idx] = False
  return beats.sum(axis=1)


SCORE_FNS = {"mixture": affinity.mixture_affinity, "max": affinity.max_affinity}


def test_sampled_ranks_hand_worked():
  scores = jnp.array([
      [5.0, 1.0, 2.0, 3.0, 4.0],  # best: rank 0
      [2.0, 3.0, 1.0, 2.0, 0.0],  # one above, one tie with the target: rank 2
      [2.0, 3.0, 3.0, 1.0, 1.0],  # ties among negatives only: two above, rank 2
      [1.0, 1.0, 1.0, 1.0, 1.0],  # constant: every negative ties, rank 4
      [0.0, 1.0, 2.0, 3.0, 4.0],  # worst: rank 4
      [0.5, jnp.nan, 0.1, 0.7, 0.5],  # NaN negative counts against, plus .7 and the tie: 3
      [jnp.nan, 0.0, 1.0, 2.0, 3.0],  # NaN target: rank 4
  ])
  expected = [0, 2, 2, 4, 4, 3, 4]
  np.testing.assert_array_equal(metrics.sampled_ranks(scores), expected)
  ranks = jax.jit(metrics.sampled_ranks)(scores)
  assert ranks.dtype == jnp.int32
  np.testing.assert_array_equal(ranks, expected)


def test_rank_metrics_hand_worked():
  out = metrics.rank_metrics(np.array([0, 1, 4, 5, 19, 20]), ks=(5, 20))
  assert out["count"] == 6
  assert out["HR@5"] == pytest.approx(100 * 3 / 6)
  assert out["HR@20"] == pytest.approx(100 * 5 / 6)
  # 1/log2(2) = 1, 1/log2(3) = .63093, 1/log2(6) = .38685, 1/log2(7) = .35621, 1/log2(21) = .22767
  assert out["NDCG@5"] == pytest.approx(100 * (1 + 0.6309297536 + 0.3868528072) / 6)
  assert out["NDCG@20"] == pytest.approx(
      100 * (1 + 0.6309297536 + 0.3868528072 + 0.3562071871 + 0.2276702487) / 6)
  assert set(out) == {"HR@5", "NDCG@5", "HR@20", "NDCG@20", "count"}
  empty = metrics.rank_metrics(np.zeros(0, np.int32), ks=(20,))
  assert empty["count"] == 0 and np.isnan(empty["HR@20"])


def test_constant_scores_get_no_hits():
  sampled = metrics.sampled_ranks(jnp.zeros((8, 100)))
  np.testing.assert_array_equal(sampled, 99)
  assert metrics.rank_metrics(sampled)["HR@20"] == 0.0
  z = jnp.zeros((6, 2, 4))
  item_emb = jnp.ones((31, 4))
  ranks = metrics.full_corpus_ranks(z, item_emb, jnp.arange(1, 7), affinity.mixture_affinity,
                                    block_q=4, block_items=7)
  np.testing.assert_array_equal(ranks, 29)
  out = metrics.rank_metrics(ranks)
  assert out["HR@5"] == out["HR@20"] == out["NDCG@20"] == 0.0


def test_full_corpus_ranks_hand_worked():
  z = jnp.array([[[1.0, 0.0]]] * 3)  # [3, 1, 2]
  # Row 0 is padding with a huge score: it must never count against the target.
  item_emb = jnp.array([[9.0, 9.0], [2.0, 0.0], [1.0, 0.0], [3.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
  # Target 2 scores 1: items 1 (2) and 3 (3) above, item 4 ties -> 3. Target 3 -> 0. Target 5 -> 4.
  for kind, fn in SCORE_FNS.items():
    for bq, bi in [(1, 1), (2, 2), (1024, 4096)]:
      ranks = metrics.full_corpus_ranks(z, item_emb, np.array([2, 3, 5]), fn, block_q=bq,
                                        block_items=bi)
      assert ranks.dtype == jnp.int32
      np.testing.assert_array_equal(ranks, [3, 0, 4], err_msg=f"{kind} {bq} {bi}")


@pytest.mark.parametrize("kind", ["mixture", "max"])
@pytest.mark.parametrize("m,block_q,block_items", [(3, 8, 16), (3, 5, 7), (1, 37, 103),
                                                   (4, 1024, 4096)])
def test_full_corpus_ranks_vs_brute_force(kind, m, block_q, block_items):
  rng = np.random.default_rng(0)
  q, n, d = 37, 103, 8
  z = rng.normal(size=(q, m, d)).astype(np.float32)
  item_emb = rng.normal(size=(n + 1, d)).astype(np.float32)
  targets = rng.integers(1, n + 1, size=q)
  ranks = metrics.full_corpus_ranks(z, item_emb, targets, SCORE_FNS[kind], block_q=block_q,
                                    block_items=block_items)
  np.testing.assert_array_equal(ranks, brute_force_ranks(z, item_emb, targets, kind))


@pytest.mark.parametrize("kind", ["mixture", "max"])
def test_full_corpus_ranks_exact_ties(kind):
  rng = np.random.default_rng(1)
  q, n, d, m = 11, 50, 6, 3
  z = rng.normal(size=(q, m, d)).astype(np.float32)
  item_emb = rng.normal(size=(n + 1, d)).astype(np.float32)
  targets = rng.integers(1, 11, size=q)
  # Items 41..50 repeat items 1..10 and 31..40 repeat 11..20: every target ties with one
  # copy of itself (counted against it), and pairs of negatives tie with each other.
  item_emb[41:51] = item_emb[1:11]
  item_emb[31:41] = item_emb[11:21]
  expected = brute_force_ranks(z, item_emb, targets, kind)
  for bq, bi in [(4, 9), (3, 13), (11, 50)]:
    ranks = metrics.full_corpus_ranks(z, item_emb, targets, SCORE_FNS[kind], block_q=bq,
                                      block_items=bi)
    np.testing.assert_array_equal(ranks, expected, err_msg=f"{bq} {bi}")
  # The copy is counted against the target: no query can be at rank 0.
  assert np.all(expected >= 1)
  # Moving the copy away from the target breaks the tie and lowers each rank by one.
  unique = item_emb.copy()
  unique[41:51] = -50.0
  ranks = metrics.full_corpus_ranks(z, unique, targets, SCORE_FNS[kind], block_q=4,
                                    block_items=9)
  np.testing.assert_array_equal(ranks, brute_force_ranks(z, unique, targets, kind))


def test_full_corpus_ranks_errors_and_empty():
  z, emb = jnp.zeros((2, 1, 3)), jnp.zeros((5, 3))
  with pytest.raises(ValueError):
    metrics.full_corpus_ranks(z, emb, np.array([0, 1]), affinity.max_affinity)
  with pytest.raises(ValueError):
    metrics.full_corpus_ranks(z, emb, np.array([1, 5]), affinity.max_affinity)
  with pytest.raises(ValueError):
    metrics.full_corpus_ranks(z, jnp.zeros((5, 4)), np.array([1, 2]), affinity.max_affinity)
  empty = metrics.full_corpus_ranks(jnp.zeros((0, 1, 3)), emb, np.zeros(0, np.int32),
                                    affinity.max_affinity)
  assert empty.shape == (0,)


def test_head_items_hand_worked():
  # index:       0    1  2  3  4  5  6  7  8  9 10
  counts = [100, 5, 1, 5, 0, 3, 7, 2, 2, 0, 1]
  # N = 10: ceil(.2 * 10) = 2 head items: item 6 (7), then the tie 1/3 (5) goes to id 1.
  assert np.flatnonzero(protocol.head_items(counts)).tolist() == [1, 6]
  # ceil(.25 * 10) = 3: item 3 joins.
  assert np.flatnonzero(protocol.head_items(counts, 0.25)).tolist() == [1, 3, 6]
  # ceil(.5 * 10) = 5: items 6, 1, 3, 5 and, of the tie 7/8 (2), item 7.
  assert np.flatnonzero(protocol.head_items(counts, 0.5)).tolist() == [1, 3, 5, 6, 7]
  head = protocol.head_items(counts)
  assert head.dtype == bool and head.shape == (11,) and not head[0]
  # 0.2 * 15 is 3.0000000000000004 in floating point; the head still has 3 items.
  assert protocol.head_items(np.arange(16)).sum() == 3
  # Never-seen items fill the head by smallest id when too few items were targets.
  assert np.flatnonzero(protocol.head_items([0, 0, 0, 1, 0, 0], 0.4)).tolist() == [1, 3]


def test_split_metrics():
  is_head = np.array([False, True, False, False, True])  # items 1 and 4 are head
  ranks = np.array([0, 10, 30, 2, 25])
  targets = np.array([1, 2, 3, 4, 2])
  out = metrics.split_metrics(ranks, targets, is_head, ks=(5, 20))
  assert out["overall"]["count"] == 5 and out["head"]["count"] == 2
  assert out["tail"]["count"] == 3
  assert out["head"]["HR@5"] == pytest.approx(100.0)
  assert out["head"]["NDCG@5"] == pytest.approx(100 * (1 + INV_LOG2[2]) / 2)
  assert out["tail"]["HR@20"] == pytest.approx(100 / 3)
  assert out["tail"]["HR@5"] == 0.0
  assert out["overall"]["HR@20"] == pytest.approx(60.0)


def numpy_silhouette(emb, labels):
  """The paper's a_p / b_p formula (Sec. 3.2), written out."""
  dist = np.sqrt(((emb[:, None, :] - emb[None, :, :]) ** 2).sum(-1))
  s = []
  for p in range(len(emb)):
    same = labels == labels[p]
    a = dist[p, same].sum() / (same.sum() - 1)
    b = min(dist[p, labels == c].mean() for c in np.unique(labels) if c != labels[p])
    s.append((b - a) / max(a, b))
  return float(np.mean(s))


def test_mean_silhouette_vs_formula():
  rng = np.random.default_rng(2)
  labels = np.repeat(np.arange(4), [3, 7, 10, 5])
  emb = rng.normal(size=(labels.size, 5)) + 2.0 * rng.normal(size=(4, 5))[labels]
  ms = metrics.mean_silhouette(emb, labels)
  assert ms == pytest.approx(numpy_silhouette(emb, labels), abs=1e-12)
  assert -1.0 <= ms <= 1.0
  # A padding row labelled -1 (UserSequences.clusters[0]) is left out.
  padded_emb = np.concatenate([np.full((1, 5), 100.0), emb])
  padded_labels = np.concatenate([[-1], labels])
  assert metrics.mean_silhouette(padded_emb, padded_labels) == pytest.approx(ms, abs=1e-12)
  # Well separated clusters score close to 1.
  tight = 100.0 * np.eye(4)[labels] + 0.01 * rng.normal(size=(labels.size, 4))
  assert metrics.mean_silhouette(tight, labels) > 0.99


def test_head_clusters_and_the_cluster_split():
  # Hand-worked: 3 clusters of 2 items; training targets per item (id 1..6) 5,1 | 2,2 | 9,0.
  # Cluster totals 6 | 4 | 9: with fraction 0.2, ceil(0.6) = 1 head cluster, the third.
  counts = np.array([0, 5, 1, 2, 2, 9, 0])
  clusters = np.array([-1, 0, 0, 1, 1, 2, 2])
  hc = protocol.head_clusters(counts, clusters, 0.2)
  np.testing.assert_array_equal(hc, [False, False, False, False, False, True, True])
  # fraction 0.5: ceil(1.5) = 2 clusters; 6 > 4, so clusters 2 and 0.
  np.testing.assert_array_equal(protocol.head_clusters(counts, clusters, 0.5),
                                [False, True, True, False, False, True, True])
  # Queries with targets 1, 5, 6, 3 ranked 0, 30, 2, 1: head clusters hold targets 5 and 6.
  out = metrics.split_metrics(np.array([0, 30, 2, 1]), np.array([1, 5, 6, 3]),
                              protocol.head_items(counts, 0.2), ks=(20,), is_head_cluster=hc)
  assert out["head_clusters"]["count"] == 2 and out["tail_clusters"]["count"] == 2
  assert out["head_clusters"]["HR@20"] == 50.0 and out["tail_clusters"]["HR@20"] == 100.0
  assert "head_clusters" not in metrics.split_metrics(np.array([0]), np.array([1]),
                                                      protocol.head_items(counts, 0.2), ks=(20,))
