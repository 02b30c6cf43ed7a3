"""Tests for the synthetic hidden-Markov benchmark (paper Appendix A, Eq. 12)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from idw_jax.data import synthetic
from idw_jax.data.types import UserSequences

# Chi-square tests reject at this level; seeds are fixed, so a pass is reproducible.
SIGNIFICANCE = 1e-4


def chi_square_ok(observed, expected_probs) -> bool:
  """Pearson chi-square goodness of fit; zero-probability cells must be empty."""
  observed = np.asarray(observed, np.float64)
  p = np.asarray(expected_probs, np.float64)
  assert np.all(observed[p == 0] == 0), (observed, p)
  pos = p > 0
  expected = observed.sum() * p[pos]
  stat = np.sum((observed[pos] - expected) ** 2 / expected)
  return stat < stats.chi2.ppf(1 - SIGNIFICANCE, df=pos.sum() - 1)


def eq12(i, j, ys, c, alpha, gamma, eps):
  """Eq. 12 entry by entry, with the empty-destination mass kept in i (docs/design.md)."""
  k = len(ys)
  if i in ys:
    if i == j:
      return alpha + (gamma if k == 1 else 0.0) + ((1 - alpha - gamma) if k == c else 0.0)
    if j in ys:
      return gamma / (k - 1)
    return (1 - alpha - gamma) / (c - k)
  if i == j:
    return eps
  if j in ys:
    return (1 - eps) / k
  return 0.0


def test_power_law():
  np.testing.assert_allclose(synthetic.power_law(4, 0.0), [0.25] * 4)
  w = np.array([1.0, 1 / 2, 1 / 3])
  np.testing.assert_allclose(synthetic.power_law(3, 1.0), w / w.sum())
  w = np.array([1.0, 1 / 4, 1 / 9, 1 / 16])
  np.testing.assert_allclose(synthetic.power_law(4, 2.0), w / w.sum())
  assert synthetic.power_law(1, 3.0).tolist() == [1.0]


def test_transition_matrix_hand_written():
  # |Y| = 2, Y = {1, 3}, C = 5, alpha .6, gamma .3, eps .1: (1 - .9) / 3 to each non-member.
  e = 0.1 / 3
  expected = np.array([
      [0.1, 0.45, 0.0, 0.45, 0.0],
      [e, 0.6, e, 0.3, e],
      [0.0, 0.45, 0.1, 0.45, 0.0],
      [e, 0.3, e, 0.6, e],
      [0.0, 0.45, 0.0, 0.45, 0.1],
  ])
  np.testing.assert_allclose(synthetic.transition_matrix([3, 1], 5, 0.6, 0.3, 0.1), expected,
                             atol=1e-15)
  # |Y| = 1, Y = {2}: the member stays w.p. alpha + gamma = .9, .025 to each other cluster.
  expected = np.full((5, 5), 0.0)
  expected[:, 2] = 0.9
  np.fill_diagonal(expected, 0.1)
  expected[2] = [0.025, 0.025, 0.9, 0.025, 0.025]
  np.testing.assert_allclose(synthetic.transition_matrix([2], 5, 0.6, 0.3, 0.1), expected,
                             atol=1e-15)


@pytest.mark.parametrize("ys", [(2,), (0,), (1, 3), (0, 4), (0, 2, 4), (1, 2, 3), (0, 1, 2, 3, 4)])
@pytest.mark.parametrize("params", [(0.6, 0.3, 0.1), (0.5, 0.2, 0.3), (0.2, 0.8, 0.0)])
def test_transition_matrix_eq12(ys, params):
  alpha, gamma, eps = params
  p = synthetic.transition_matrix(np.array(ys), 5, alpha, gamma, eps)
  assert p.shape == (5, 5) and p.dtype == np.float64
  expected = [[eq12(i, j, ys, 5, alpha, gamma, eps) for j in range(5)] for i in range(5)]
  np.testing.assert_allclose(p, expected, atol=1e-15)
  np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)


def test_transition_matrix_duplicates_and_errors():
  np.testing.assert_array_equal(synthetic.transition_matrix([1, 1, 3], 5, 0.6, 0.3, 0.1),
                                synthetic.transition_matrix([1, 3], 5, 0.6, 0.3, 0.1))
  with pytest.raises(ValueError):
    synthetic.transition_matrix([5], 5, 0.6, 0.3, 0.1)
  with pytest.raises(ValueError):
    synthetic.transition_matrix([], 5, 0.6, 0.3, 0.1)
  with pytest.raises(ValueError):
    synthetic.transition_matrix([0], 5, 0.8, 0.3, 0.1)


@pytest.mark.parametrize("num_clusters,per_user,alpha,gamma,eps", [
    (5, 3, 0.6, 0.3, 0.1),  # the paper's setting
    (5, 3, 0.5, 0.2, 0.3),  # asymmetric masses
    (3, 6, 0.5, 0.3, 0.2),  # many users with |Y| = C (no non-member)
])
def test_generate_transitions_match_eq12(num_clusters, per_user, alpha, gamma, eps):
  seqs, interests = synthetic.generate_with_interests(
      num_users=40_000, seq_len=20, num_clusters=num_clusters, num_items=num_clusters * 4,
      interests_per_user=per_user, alpha=alpha, gamma=gamma, epsilon=eps, cluster_exponent=0.5,
      seed=1)
  states = seqs.clusters[seqs.items].reshape(seqs.num_users, 20)
  keys = [tuple(int(c) for c in row if c >= 0) for row in interests]
  tested = 0
  for ys in sorted(set(keys)):
    users = np.array([k == ys for k in keys])
    if users.sum() < 300:
      continue
    s = states[users]
    counts = np.zeros((num_clusters, num_clusters))
    np.add.at(counts, (s[:, :-1].ravel(), s[:, 1:].ravel()), 1)
    p = synthetic.transition_matrix(ys, num_clusters, alpha, gamma, eps)
    for i in range(num_clusters):
      if counts[i].sum() >= 50:
        assert chi_square_ok(counts[i], p[i]), (ys, i, counts[i], p[i])
        tested += 1
  assert tested >= 10


def test_initial_state_uniform_over_all_clusters():
  seqs = synthetic.generate(num_users=20_000, seq_len=2, cluster_exponent=2.0, seed=3)
  first = seqs.clusters[seqs.items[seqs.offsets[:-1]]]
  assert chi_square_ok(np.bincount(first, minlength=5), np.full(5, 0.2))


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_interest_draws_follow_cluster_power_law(exponent):
  _, interests = synthetic.generate_with_interests(
      num_users=30_000, seq_len=1, interests_per_user=1, cluster_exponent=exponent, seed=4)
  pi = synthetic.power_law(5, exponent)
  assert chi_square_ok(np.bincount(interests[:, 0], minlength=5), pi)


def test_interest_set_sizes_follow_draws_with_replacement():
  seqs, interests = synthetic.generate_with_interests(num_users=30_000, seq_len=1, seed=5)
  pi = synthetic.power_law(5, 1.0)
  p1 = np.sum(pi ** 3)
  p3 = 6 * sum(pi[a] * pi[b] * pi[c] for a, b, c in itertools.combinations(range(5), 3))
  sizes = (interests >= 0).sum(axis=1)
  assert chi_square_ok(np.bincount(sizes, minlength=4)[1:], [p1, 1 - p1 - p3, p3])
  assert seqs.report["interest_set_sizes"] == {s: int(np.sum(sizes == s)) for s in (1, 2, 3)}
  # Sets are distinct ids ascending, padded at the end with -1.
  for row in interests[:200]:
    ids = row[row >= 0]
    assert np.all(np.diff(ids) > 0) and np.all(row[ids.size:] == -1)


@pytest.mark.parametrize("item_exponent", [0.5, 1.5])
def test_items_within_cluster_follow_item_power_law(item_exponent):
  seqs = synthetic.generate(num_users=5_000, seq_len=20, item_exponent=item_exponent, seed=6)
  counts = np.bincount(seqs.items, minlength=51)[1:].reshape(5, 10)
  q = synthetic.power_law(10, item_exponent)
  for c in range(5):
    assert chi_square_ok(counts[c], q), (c, counts[c])


def test_shapes_ids_and_report():
  seqs = synthetic.generate(num_users=300, seq_len=7, num_clusters=4, num_items=20, seed=7)
  assert isinstance(seqs, UserSequences)
  assert seqs.num_users == 300 and seqs.num_items == 20 and seqs.num_interactions == 2100
  assert seqs.items.dtype == np.int32 and seqs.offsets.dtype == np.int64
  np.testing.assert_array_equal(seqs.lengths, 7)
  assert seqs.items.min() >= 1 and seqs.items.max() <= 20
  expected_clusters = np.array([-1] + [c for c in range(4) for _ in range(5)], np.int32)
  np.testing.assert_array_equal(seqs.clusters, expected_clusters)
  assert seqs.clusters.dtype == np.int32
  for key, value in dict(num_users=300, seq_len=7, num_clusters=4, num_items=20, alpha=0.6,
                         gamma=0.3, epsilon=0.1, cluster_exponent=1.0, item_exponent=0.5,
                         seed=7, interests_per_user=3).items():
    assert seqs.report[key] == value, key


def test_defaults_are_the_papers():
  seqs = synthetic.generate(num_users=100)
  r = seqs.report
  assert (r["num_clusters"], r["num_items"], r["seq_len"]) == (5, 50, 20)
  assert r["interests_per_user"] == 3 and r["cluster_exponent"] == 1.0
  assert (r["alpha"], r["gamma"], r["epsilon"], r["item_exponent"]) == (0.6, 0.3, 0.1, 0.5)


def test_deterministic_by_seed():
  a = synthetic.generate(num_users=500, seed=11)
  b = synthetic.generate(num_users=500, seed=11)
  c = synthetic.generate(num_users=500, seed=12)
  np.testing.assert_array_equal(a.items, b.items)
  np.testing.assert_array_equal(a.offsets, b.offsets)
  assert not np.array_equal(a.items, c.items)
  v1 = synthetic.generate(num_users=500, seed=11, mean_len=6.0)
  v2 = synthetic.generate(num_users=500, seed=11, mean_len=6.0)
  np.testing.assert_array_equal(v1.items, v2.items)
  np.testing.assert_array_equal(v1.offsets, v2.offsets)


def test_clothing_scale_option_reduced():
  seqs = synthetic.generate(num_users=60_000, num_clusters=100, num_items=37_600, mean_len=9.0,
                            min_len=3, seed=8)
  lengths = seqs.lengths
  assert lengths.min() >= 3
  assert abs(lengths.mean() - 9.0) < 0.05  # std of the mean is sqrt(6 / 60000) = 0.01
  assert abs(lengths.var() - 6.0) < 0.3  # Poisson(6) shifted by 3
  assert seqs.items.min() >= 1 and seqs.items.max() <= 37_600
  # Each item's cluster is its id block; consecutive same-cluster steps are common (alpha).
  states = seqs.clusters[seqs.items]
  assert states.min() >= 0 and states.max() <= 99


def test_variable_lengths_still_follow_eq12():
  seqs, interests = synthetic.generate_with_interests(num_users=20_000, mean_len=8.0, min_len=2,
                                                      interests_per_user=1, seed=9)
  states = seqs.clusters[seqs.items]
  same_user = np.ones(states.size - 1, bool)
  same_user[seqs.offsets[1:-1] - 1] = False
  src, dst = states[:-1][same_user], states[1:][same_user]
  user = np.repeat(np.arange(seqs.num_users), seqs.lengths)[:-1][same_user]
  for y in range(5):
    mask = interests[user, 0] == y
    counts = np.zeros((5, 5))
    np.add.at(counts, (src[mask], dst[mask]), 1)
    p = synthetic.transition_matrix([y], 5, 0.6, 0.3, 0.1)
    for i in range(5):
      if counts[i].sum() >= 50:
        assert chi_square_ok(counts[i], p[i]), (y, i, counts[i])


def test_errors():
  with pytest.raises(ValueError, match="multiple"):
    synthetic.generate(num_users=10, num_items=51)
  with pytest.raises(ValueError):
    synthetic.generate(num_users=10, mean_len=2.0, min_len=3)
  with pytest.raises(ValueError):
    synthetic.generate(num_users=10, alpha=0.8, gamma=0.3)
