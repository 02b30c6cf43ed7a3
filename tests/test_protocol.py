"""The sequence protocol (Sec. 4.1-4.2) on hand-worked sequences."""

import numpy as np
import pytest

from idw_jax.data import protocol
from idw_jax.data.types import UserSequences


def _seqs():
  return UserSequences.from_lists([
      list(range(1, 8)),          # user 0: 7 items
      [9, 8, 10, 11],             # user 1: 4 items
      [12, 13],                   # user 2: too short for a window
  ], num_items=13)


def test_windows_paper_preset_consecutive_remainder():
  user, start, end, dropped = protocol.window_bounds(np.array([7, 4, 2, 10]), max_len=3,
                                                     stride=3, tail="remainder")
  # len 7 -> [0,3) [3,6), remainder [6,7) is 1 item: dropped; len 4 -> [0,3), remainder 1
  # item dropped; len 2 -> nothing (dropped); len 10 -> [0,3) [3,6) [6,9), remainder dropped.
  assert list(zip(user, start, end)) == [(0, 0, 3), (0, 3, 6), (1, 0, 3), (3, 0, 3), (3, 3, 6),
                                         (3, 6, 9)]
  assert dropped == 4
  user, start, end, dropped = protocol.window_bounds(np.array([8]), max_len=3, stride=3,
                                                     tail="remainder")
  assert list(zip(start, end)) == [(0, 3), (3, 6)] and dropped == 1
  user, start, end, _ = protocol.window_bounds(np.array([11]), max_len=4, stride=4,
                                               tail="remainder")
  assert list(zip(start, end)) == [(0, 4), (4, 8), (8, 11)]


def test_windows_authors_sliding_end_aligned():
  user, start, end, dropped = protocol.window_bounds(np.array([12, 5, 4]), max_len=5, stride=2,
                                                     tail="end_aligned")
  # len 12: starts 0,2,4,6 (+5 <= 12), covered up to 11 -> one more window [7, 12).
  assert list(zip(user, start, end)) == [(0, 0, 5), (0, 2, 7), (0, 4, 9), (0, 6, 11),
                                         (0, 7, 12), (1, 0, 5), (2, 0, 4)]
  assert dropped == 0


def test_splits_targets_and_counts():
  s = protocol.build_splits(_seqs(), max_len=30, num_negatives=0)
  np.testing.assert_array_equal(s.lengths, [7, 4])
  assert s.windows.shape == (2, 7)      # trimmed to the longest window
  np.testing.assert_array_equal(s.eval_targets("test"), [7, 11])
  np.testing.assert_array_equal(s.eval_targets("valid"), [6, 10])
  np.testing.assert_array_equal(s.eval_positions("test"), [5, 2])
  # Training targets: items 2..5 of user 0 (every prefix) and item 8 of user 1.
  want = np.zeros(14, np.int64)
  want[[2, 3, 4, 5, 8]] = 1
  np.testing.assert_array_equal(s.train_counts, want)
  assert s.report["short_windows_dropped"] == 1 and s.report["users_without_window"] == 1
  last = protocol.build_splits(_seqs(), max_len=30, num_negatives=0, train_targets="last")
  want = np.zeros(14, np.int64)
  want[[5, 8]] = 1
  np.testing.assert_array_equal(last.train_counts, want)


def test_negatives_never_interacted_distinct_and_seeded():
  rng = np.random.default_rng(0)
  seqs = UserSequences.from_lists([rng.choice(np.arange(1, 301), size=n, replace=False)
                                   for n in rng.integers(5, 150, size=40)], num_items=300)
  s1 = protocol.build_splits(seqs, num_negatives=99, seed=3)
  s2 = protocol.build_splits(seqs, num_negatives=99, seed=3)
  np.testing.assert_array_equal(s1.negatives, s2.negatives)
  assert s1.negatives.shape == (40, 99)
  for u in range(40):
    negs = s1.negatives[u]
    assert len(set(negs)) == 99
    assert not set(negs) & set(seqs.sequence(u))
    assert negs.min() >= 1 and negs.max() <= 300
  pop = protocol.build_splits(seqs, num_negatives=99, negative_sampler="popularity", seed=3)
  for u in range(40):
    assert len(set(pop.negatives[u])) == 99 and not set(pop.negatives[u]) & set(seqs.sequence(u))


def test_uniform_negatives_are_uniform():
  # One user who saw items 1..10 of 40: negatives are uniform over 11..40.
  seqs = UserSequences.from_lists([list(range(1, 11))] * 3000, num_items=40)
  negs = protocol.sample_negatives(seqs.offsets, seqs.items, 40, 5, None,
                                   np.random.default_rng(0))
  counts = np.bincount(negs.ravel(), minlength=41)[11:]
  assert counts.sum() == 15000 and np.all(np.bincount(negs.ravel(), minlength=41)[:11] == 0)
  assert abs(counts / 15000 - 1 / 30).max() < 0.006


def test_popularity_negatives_follow_popularity():
  seqs = UserSequences.from_lists([[1]] * 20000, num_items=4)
  probs = np.array([0, 0, 0.6, 0.3, 0.1])
  negs = protocol.sample_negatives(seqs.offsets, seqs.items, 4, 1, probs, np.random.default_rng(1))
  freq = np.bincount(negs.ravel(), minlength=5)[2:] / 20000
  np.testing.assert_allclose(freq, [0.6, 0.3, 0.1], atol=0.015)


def test_too_few_negatives_is_an_error():
  seqs = UserSequences.from_lists([list(range(1, 150))], num_items=200)
  with pytest.raises(ValueError, match="num_negatives"):
    protocol.build_splits(seqs, num_negatives=99)


def test_item_filter_single_pass():
  seqs = UserSequences.from_lists([[1, 2, 3, 1, 2], [1, 2, 4, 5, 1], [3]], num_items=5)
  # counts before: item1 4, item2 3, item3 2, item4 1, item5 1; users 5, 5, 1.
  out, rep = protocol.item_filter(seqs, min_count=3)
  assert out.num_items == 2 and out.num_users == 2
  np.testing.assert_array_equal(out.items, [1, 2, 1, 2, 1, 2, 1])
  assert rep["filter_events_dropped"] == 4 and rep["filter_users_dropped"] == 1


def test_head_items_top_fraction():
  counts = np.array([0, 5, 1, 9, 5, 0, 2, 2, 2, 7, 3])
  head = protocol.head_items(counts, 0.2)
  np.testing.assert_array_equal(np.flatnonzero(head), [3, 9])
  head = protocol.head_items(counts, 0.3)       # ceil(3) items: 9 > 7 > 5 (tie 1 vs 4: id 1)
  np.testing.assert_array_equal(np.flatnonzero(head), [1, 3, 9])
  assert protocol.head_items(np.arange(16), 0.2).sum() == 3   # not ceil(3.0000000000000004)


def test_negatives_in_user_chunks_keep_every_guarantee():
  rng = np.random.default_rng(4)
  seqs = UserSequences.from_lists([rng.choice(np.arange(1, 201), size=n, replace=False)
                                   for n in rng.integers(5, 80, size=50)], num_items=200)
  negs = protocol.sample_negatives(seqs.offsets, seqs.items, 200, 99, None,
                                   np.random.default_rng(0), chunk_users=7)
  assert negs.shape == (50, 99)
  for u in range(50):
    assert len(set(negs[u])) == 99 and not set(negs[u]) & set(seqs.sequence(u))
