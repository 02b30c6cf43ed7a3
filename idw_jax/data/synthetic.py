"""Synthetic hidden-Markov benchmark (paper Appendix A, Table 3, Eq. 12).

Every user u draws an interest set Y_u of clusters, walks a Markov chain over the C clusters
with the user-specific transition matrix of Eq. 12, and emits one item per step from the
current cluster. Clusters own contiguous blocks of K = num_items / C dense item ids; items
inside a cluster and the interest draws both follow power laws, which is what makes the
benchmark long-tailed.

Where the paper is silent we follow the authors' generator (docs/design.md, "Synthetic benchmark"):
  * `interests_per_user` clusters are drawn WITH replacement from the cluster power law pi,
    so |Y_u| is 1..interests_per_user (duplicates collapse);
  * the initial state is uniform over ALL clusters, not only over Y_u;
  * probability mass of Eq. 12 whose destination set is empty stays in the current cluster:
    with |Y_u| = 1 the gamma term has no other member, so the self-transition is
    alpha + gamma; with |Y_u| = C there is no non-member cluster, so the self-transition of a
    member is alpha + gamma + (1 - alpha - gamma) = 1 - (the gamma term, if |Y_u| > 1).

The generator is vectorised over users: one loop over time steps, each step a handful of
numpy operations on all active users. Transitions are sampled structurally, which is
equivalent to Eq. 12 and never builds a per-user C x C matrix:
  * in Y_u: stay w.p. alpha, move to a uniform OTHER member w.p. gamma, else move to a
    uniform non-member;
  * out of Y_u: stay w.p. epsilon, else move to a uniform member.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from idw_jax.data.types import UserSequences


def power_law(n: int, exponent: float) -> np.ndarray:
  """Power-law weights over ranks 1..n: p_r proportional to r^(-exponent).

  Args:
    n: number of outcomes (>= 1).
    exponent: power-law exponent (>= 0); 0 gives the uniform distribution.

  Returns:
    float64[n], non-increasing, sums to 1.
  """
  if n < 1:
    raise ValueError(f"power_law: n must be >= 1, got {n}")
  if exponent < 0:
    raise ValueError(f"power_law: exponent must be >= 0, got {exponent}")
  w = np.arange(1, n + 1, dtype=np.float64) ** (-float(exponent))
  return w / w.sum()


def _check_probabilities(alpha: float, gamma: float, epsilon: float) -> None:
  if alpha < 0 or gamma < 0 or alpha + gamma > 1 + 1e-12:
    raise ValueError(f"need alpha, gamma >= 0 and alpha + gamma <= 1, got alpha={alpha}, "
                     f"gamma={gamma}")
  if not 0 <= epsilon <= 1:
    raise ValueError(f"need 0 <= epsilon <= 1, got {epsilon}")


def transition_matrix(interests, num_clusters: int, alpha: float, gamma: float,
                      epsilon: float) -> np.ndarray:
  """Eq. 12: the cluster transition matrix P^(u) of a user with interest set Y_u.

  Rows are the current cluster i, columns the next cluster j:
    i in Y_u:     P_ii = alpha, P_ij = gamma / (|Y_u| - 1) for j in Y_u \\ {i},
                  P_ij = (1 - alpha - gamma) / (C - |Y_u|) for j not in Y_u;
    i not in Y_u: P_ii = epsilon, P_ij = (1 - epsilon) / |Y_u| for j in Y_u, 0 otherwise.
  Mass whose destination set is empty stays in i: with |Y_u| = 1 the self-transition of the
  member is alpha + gamma (docs/design.md), and with |Y_u| = C the (1 - alpha - gamma) term is
  added to the self-transition (Eq. 12 divides by C - |Y_u| = 0 there).

  Args:
    interests: the cluster ids in Y_u (any int array-like, ids in 0..C-1); repeated ids
      collapse, as with the with-replacement draws of `generate`.
    num_clusters: C.
    alpha: probability of staying in a member cluster.
    gamma: total probability of moving to another member cluster.
    epsilon: probability of staying in a non-member cluster.

  Returns:
    float64[C, C], each row sums to 1.
  """
  _check_probabilities(alpha, gamma, epsilon)
  c = int(num_clusters)
  ys = np.unique(np.asarray(interests, dtype=np.int64).reshape(-1))
  if ys.size == 0 or ys[0] < 0 or ys[-1] >= c:
    raise ValueError(f"interests must be a non-empty set of ids in 0..{c - 1}, got {interests}")
  k = ys.size
  member = np.zeros(c, dtype=bool)
  member[ys] = True
  p = np.zeros((c, c), dtype=np.float64)
  for i in range(c):
    if member[i]:
      p[i, member] = gamma / (k - 1) if k > 1 else 0.0
      p[i, ~member] = (1.0 - alpha - gamma) / (c - k) if c > k else 0.0
      p[i, i] = alpha + (gamma if k == 1 else 0.0) + (1.0 - alpha - gamma if c == k else 0.0)
    else:
      p[i, member] = (1.0 - epsilon) / k
      p[i, i] = epsilon
  return p


def sample_interests(rng: np.random.Generator, num_users: int, cluster_probs: np.ndarray,
                     interests_per_user: int) -> np.ndarray:
  """Draws each user's interest set: `interests_per_user` draws with replacement from pi.

  Args:
    rng: numpy generator.
    num_users: U.
    cluster_probs: float64[C], pi.
    interests_per_user: I, draws per user.

  Returns:
    int32[U, I]: the distinct clusters of each user sorted ascending, padded at the end with
    -1 (so |Y_u| = number of entries >= 0, between 1 and I).
  """
  c = cluster_probs.size
  draws = np.sort(rng.choice(c, size=(num_users, interests_per_user), p=cluster_probs), axis=1)
  repeated = np.zeros(draws.shape, dtype=bool)
  repeated[:, 1:] = draws[:, 1:] == draws[:, :-1]
  # Sentinel C sorts after every real id; replace it by -1 after sorting.
  sets = np.sort(np.where(repeated, c, draws), axis=1)
  return np.where(sets == c, -1, sets).astype(np.int32)


def _step(rng: np.random.Generator, state: np.ndarray, members: np.ndarray, sizes: np.ndarray,
          num_clusters: int, alpha: float, gamma: float, epsilon: float) -> np.ndarray:
  """One Markov step for n users, sampled structurally (equivalent to Eq. 12).

  Args:
    rng: numpy generator.
    state: int64[n], current clusters.
    members: int64[n, I], each user's distinct interests ascending, padded with C.
    sizes: int64[n], |Y_u|.
    num_clusters: C.
    alpha, gamma, epsilon: Eq. 12.

  Returns:
    int64[n], next clusters.
  """
  n = state.size
  r_branch = rng.random(n)
  r_pick = rng.random(n)
  rows = np.arange(n)
  is_pos = members == state[:, None]  # [n, I]
  in_y = is_pos.any(axis=1)

  # Out of Y: a uniform member.
  to_member = members[rows, np.minimum((r_pick * sizes).astype(np.int64), sizes - 1)]
  # In Y, gamma branch: a uniform other member (skip the current one's position).
  others = np.maximum(sizes - 1, 1)
  j = np.minimum((r_pick * others).astype(np.int64), others - 1)
  j += j >= np.argmax(is_pos, axis=1)
  to_other = members[rows, np.minimum(j, members.shape[1] - 1)]
  # In Y, remaining branch: the j-th non-member, found by skipping the sorted members <= it.
  non = np.maximum(num_clusters - sizes, 1)
  x = np.minimum((r_pick * non).astype(np.int64), non - 1)
  for col in range(members.shape[1]):
    x += members[:, col] <= x
  to_non = x

  move_other = (r_branch >= alpha) & (r_branch < alpha + gamma) & (sizes > 1)
  move_non = (r_branch >= alpha + gamma) & (sizes < num_clusters)
  nxt_in = np.where(move_other, to_other, np.where(move_non, to_non, state))
  nxt_out = np.where(r_branch < epsilon, state, to_member)
  return np.where(in_y, nxt_in, nxt_out)


def sample_cluster_sequences(rng: np.random.Generator, interests: np.ndarray,
                             lengths: np.ndarray, num_clusters: int, alpha: float, gamma: float,
                             epsilon: float) -> tuple[np.ndarray, np.ndarray]:
  """Hidden cluster sequences of every user, in CSR layout.

  The initial state is uniform over all clusters; each step follows Eq. 12. Users are
  processed in order of decreasing length so that the active users of step t are a prefix.

  Args:
    rng: numpy generator.
    interests: int32[U, I] from `sample_interests` (padded with -1).
    lengths: int64[U], sequence lengths (>= 1).
    num_clusters: C.
    alpha, gamma, epsilon: Eq. 12.

  Returns:
    (states int32[E], offsets int64[U+1]); user u's clusters are
    states[offsets[u]:offsets[u+1]], E = sum(lengths).
  """
  _check_probabilities(alpha, gamma, epsilon)
  lengths = np.asarray(lengths, dtype=np.int64)
  offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
  states = np.empty(int(offsets[-1]), dtype=np.int32)
  order = np.argsort(-lengths, kind="stable")
  sorted_len = lengths[order]
  members = interests[order].astype(np.int64)
  sizes = (members >= 0).sum(axis=1)
  members[members < 0] = num_clusters  # Sentinel: never <= a non-member index.
  starts = offsets[order]

  state = rng.integers(0, num_clusters, size=order.size)
  max_len = int(sorted_len[0]) if sorted_len.size else 0
  for t in range(max_len):
    n = int(np.searchsorted(-sorted_len, -t, side="left"))  # users with length > t
    if t > 0:
      state = _step(rng, state[:n], members[:n], sizes[:n], num_clusters, alpha, gamma, epsilon)
    states[starts[:n] + t] = state[:n]
  return states, offsets


def generate_with_interests(
    *, num_users: int = 10_000, seq_len: int = 20, num_clusters: int = 5, num_items: int = 50,
    interests_per_user: int = 3, alpha: float = 0.6, gamma: float = 0.3, epsilon: float = 0.1,
    cluster_exponent: float = 1.0, item_exponent: float = 0.5, seed: int = 0,
    mean_len: float = 0.0, min_len: int = 3) -> tuple[UserSequences, np.ndarray]:
  """`generate`, also returning the users' interest sets int32[U, I] (padded with -1)."""
  c, k_per = int(num_clusters), int(num_items) // max(int(num_clusters), 1)
  if c < 1 or num_items < 1 or num_items % c:
    raise ValueError(f"num_items ({num_items}) must be a positive multiple of num_clusters ({c})")
  if num_users < 0 or interests_per_user < 1:
    raise ValueError(f"need num_users >= 0 and interests_per_user >= 1, got {num_users}, "
                     f"{interests_per_user}")
  _check_probabilities(alpha, gamma, epsilon)
  rng = np.random.default_rng(seed)

  pi = power_law(c, cluster_exponent)
  interests = sample_interests(rng, num_users, pi, interests_per_user)
  if mean_len > 0:
    if min_len < 1 or mean_len < min_len:
      raise ValueError(f"need 1 <= min_len <= mean_len, got min_len={min_len}, "
                       f"mean_len={mean_len}")
    lengths = min_len + rng.poisson(mean_len - min_len, size=num_users).astype(np.int64)
  else:
    if seq_len < 1:
      raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    lengths = np.full(num_users, seq_len, dtype=np.int64)
  states, offsets = sample_cluster_sequences(rng, interests, lengths, c, alpha, gamma, epsilon)

  # Cluster c owns dense ids c*K+1..c*K+K; rank r inside it has probability ~ (r+1)^-exponent.
  ranks = rng.choice(k_per, size=states.size, p=power_law(k_per, item_exponent))
  items = (states.astype(np.int64) * k_per + ranks + 1).astype(np.int32)
  clusters = np.concatenate([[-1], np.repeat(np.arange(c), k_per)]).astype(np.int32)

  sizes = (interests >= 0).sum(axis=1)
  report: dict[str, Any] = dict(
      source="synthetic_hmm", num_users=int(num_users), num_items=int(num_items),
      num_clusters=c, items_per_cluster=k_per, seq_len=int(seq_len), mean_len=float(mean_len),
      min_len=int(min_len), interests_per_user=int(interests_per_user), alpha=float(alpha),
      gamma=float(gamma), epsilon=float(epsilon), cluster_exponent=float(cluster_exponent),
      item_exponent=float(item_exponent), seed=int(seed), num_interactions=int(items.size),
      interest_set_sizes={int(s): int(np.sum(sizes == s))
                          for s in range(1, interests_per_user + 1)})
  seqs = UserSequences(items=items, offsets=offsets, num_items=int(num_items),
                       user_ids=None, item_ids=None, clusters=clusters, report=report)
  return seqs, interests


def generate(
    *, num_users: int = 10_000, seq_len: int = 20, num_clusters: int = 5, num_items: int = 50,
    interests_per_user: int = 3, alpha: float = 0.6, gamma: float = 0.3, epsilon: float = 0.1,
    cluster_exponent: float = 1.0, item_exponent: float = 0.5, seed: int = 0,
    mean_len: float = 0.0, min_len: int = 3) -> UserSequences:
  """Generates the synthetic benchmark (Appendix A). Deterministic given `seed`.

  Defaults are the paper's (Sec. 3.2, Appendix A; docs/design.md): 5 clusters x 10 items,
  10,000 users, T = 20, 3 interest draws per user, alpha 0.6, gamma 0.3, epsilon 0.1,
  item exponent 0.5; the cluster exponent is swept 0..2 in Fig. 3.

  Args:
    num_users: |U|.
    seq_len: T, the length of every sequence when mean_len == 0.
    num_clusters: C.
    num_items: |I|, a multiple of C; K = |I| / C items per cluster.
    interests_per_user: draws (with replacement) from pi per user, so |Y_u| in 1..this.
    alpha, gamma, epsilon: Eq. 12.
    cluster_exponent: power-law exponent of pi over clusters (rank = cluster id + 1).
    item_exponent: power-law exponent of the item distribution within a cluster
      (rank = position in the cluster's id block + 1).
    seed: seeds np.random.default_rng.
    mean_len: if > 0, variable lengths min_len + Poisson(mean_len - min_len) (mean mean_len),
      e.g. the Clothing-scale option (1.2M users, 376k items, mean length 9).
    min_len: the smallest length when mean_len > 0.

  Returns:
    UserSequences with items int32[E] in 1..num_items, `clusters` int32[num_items + 1] the
    ground-truth cluster of each item (clusters[0] = -1) and `report` the generator's
    parameters and counts.
  """
  seqs, _ = generate_with_interests(
      num_users=num_users, seq_len=seq_len, num_clusters=num_clusters, num_items=num_items,
      interests_per_user=interests_per_user, alpha=alpha, gamma=gamma, epsilon=epsilon,
      cluster_exponent=cluster_exponent, item_exponent=item_exponent, seed=seed,
      mean_len=mean_len, min_len=min_len)
  return seqs
