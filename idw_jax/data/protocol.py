"""The sequence protocols of Sec. 4.1-4.2 and SASRec's: windows, leave-one-out, negatives, heads.

`data.protocol.split` picks how a user's time-ordered sequence becomes training and evaluation:

"windows" (the paper): the sequence is cut into windows of at most `max_len` items. In every
window the last item is the test target, the second last the validation target and the rest
the training part (Sec. 4.2, applied per window: docs/design.md). Training targets are every
prefix of the training part (`train_targets="every_prefix"`, the paper) or the single item at
position -3 (`"last"`, the authors' code). Window layout, for a window w of length n
(right-padded with 0 to max_len):
  training:   inputs w[0..t], target w[t+1], t = 0..n-4   (every prefix) or t = n-4 (last)
  validation: inputs w[0..n-3], target w[n-2]
  test:       inputs w[0..n-2], target w[n-1]

"leave_one_out" (SASRec, Kang & McAuley, ICDM 2018): per user, the last item is the test
target, the one before it the validation target, the rest the training part (a user of fewer
than 3 items trains on all of them and is not evaluated). The training part is cut into windows
of at most `max_len` items from its end backwards, consecutive windows sharing one item, so
every training item but the user's first is a target once (every prefix; "last": each window's
last item) and each is predicted from at most max_len - 1 items before it; the most recent
window is SASRec's training sequence. Evaluation reads the last max_len - 1 items before the
target: the training part for validation, the training part and the validation item for test
(`Queries`). SASRec's maxlen = 200 inputs is max_len = 201 here.

Everything is vectorised numpy over int32 arrays.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from idw_jax.data.types import UserSequences

MIN_WINDOW = 3  # a window needs one input item, a validation and a test target
TAIL_WINDOWS = ("remainder", "end_aligned")
TRAIN_TARGETS = ("every_prefix", "last")
NEGATIVE_SAMPLERS = ("uniform", "popularity")
SPLITS = ("windows", "leave_one_out")


@dataclasses.dataclass(frozen=True)
class Queries:
  """The queries of one evaluation split (validation or test).

  Attributes:
    windows: int32[Q, L] the items the user tower reads, then the target (right-padded with 0).
    positions: int32[Q] the user-tower output that predicts the target (its index - 1).
    targets: int32[Q] target items.
    user: int32[Q] the query's user, a row of `Splits.negatives`.
    history: CSR (offsets int64[Q+1], items int32[E]) of every item the user had before the
      target (leave-one-out: the ranking without them), or None.
  """

  windows: np.ndarray
  positions: np.ndarray
  targets: np.ndarray
  user: np.ndarray
  history: tuple[np.ndarray, np.ndarray] | None = None

  @property
  def size(self) -> int:
    return int(self.targets.size)


@dataclasses.dataclass(frozen=True)
class Splits:
  """Windows and everything the trainer and the evaluator need.

  Attributes:
    windows: int32[W, L] item ids, right-padded with 0.
    lengths: int32[W] window lengths (>= 3).
    window_user: int32[W] index of the window's user in the source UserSequences.
    num_items: catalogue size N (ids 1..N).
    train_counts: int64[N+1] how often each item is a training target (index 0 = 0).
    negatives: int32[U, K] evaluation negatives per user, or None when the catalogue is too
      small for the sampled protocol (<= num_negatives + 1 items).
    is_head: bool[N+1] head items (the most frequent training targets).
    clusters: optional int32[N+1] ground-truth clusters (synthetic data).
    train_targets: "every_prefix" or "last".
    is_head_cluster: optional bool[N+1], items of the head clusters (`head_clusters`; with
      `clusters` only): the paper's Fig. 3d/e split head and tail by interest clusters.
    report: counts of what the protocol built and dropped.
    item_ids: optional [N+1] raw id of each dense id (index 0 unused) after the item filter:
      the run's vocabulary (idw_jax/data/vocab.py); None for data without raw ids (synthetic).
    split: "windows" or "leave_one_out" (data.protocol.split).
    loo_queries: leave-one-out only: {"valid": Queries, "test": Queries}; the windows split's
      queries are its windows (`queries`).
  """

  windows: np.ndarray
  lengths: np.ndarray
  window_user: np.ndarray
  num_items: int
  train_counts: np.ndarray
  negatives: np.ndarray | None
  is_head: np.ndarray
  clusters: np.ndarray | None
  train_targets: str
  report: dict
  is_head_cluster: np.ndarray | None = None
  item_ids: np.ndarray | None = None
  split: str = "windows"
  loo_queries: dict | None = None

  @property
  def num_windows(self) -> int:
    return int(self.windows.shape[0])

  @property
  def max_len(self) -> int:
    return int(self.windows.shape[1])

  @property
  def num_train_examples(self) -> int:
    return int(self.train_counts.sum())

  @property
  def item_prob(self) -> np.ndarray:
    """float64[N+1] p(y): frequency among training targets (logQ, Eq. 2, and w(0), Alg. 1)."""
    return self.train_counts / max(self.train_counts.sum(), 1)

  @property
  def held_out(self) -> int:
    """Items at the end of each training window that are not training targets: the windows
    split's validation and test targets (2); leave-one-out's training windows hold none (0)."""
    return 0 if self.split == "leave_one_out" else 2

  def eval_targets(self, split: str) -> np.ndarray:
    """int32[Q] validation or test targets: each window's w[n-2] or w[n-1] (windows split),
    each evaluated user's second last or last item (leave-one-out)."""
    if self.loo_queries is not None:
      return self.loo_queries[split].targets
    offset = {"valid": 2, "test": 1}[split]
    return self.windows[np.arange(self.num_windows), self.lengths - offset]

  def eval_positions(self, split: str) -> np.ndarray:
    """int32[Q] position of the user-tower output that predicts the eval target."""
    if self.loo_queries is not None:
      return self.loo_queries[split].positions
    return self.lengths - {"valid": 3, "test": 2}[split]

  def queries(self, split: str) -> Queries:
    """The validation or test queries: the windows themselves (windows split), or the
    leave-one-out rows."""
    if self.loo_queries is not None:
      return self.loo_queries[split]
    return Queries(self.windows, self.eval_positions(split), self.eval_targets(split),
                   self.window_user)


def window_bounds(lengths: np.ndarray, max_len: int, stride: int,
                  tail: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
  """Start/end offsets (within each user's sequence) of every window.

  Windows start at 0, stride, 2*stride, ... while they fit; the rest of the sequence is
  `tail="remainder"`: a shorter window of the leftover items (dropped if < 3 items), or
  `tail="end_aligned"`: one more window of max_len ending at the last item (the authors'
  code; it overlaps the previous window). Sequences of <= max_len items are one window.

  Returns (user index, start, end) int64 arrays of the windows and the number of windows
  dropped as too short.
  """
  lengths = np.asarray(lengths, np.int64)
  full = np.where(lengths >= max_len, (lengths - max_len) // stride + 1, 0)
  covered = np.where(full > 0, (full - 1) * stride + max_len, 0)
  leftover = lengths - covered
  if tail == "remainder":
    # Leftover items after the last full window; with stride < max_len they are new items only.
    rest_start = np.where(full > 0, full * stride, 0)
    rest_start = np.maximum(rest_start, covered)
    rest_len = lengths - rest_start
    has_rest = rest_len >= MIN_WINDOW
    dropped = int(np.sum((rest_len > 0) & ~has_rest))
    rest_s, rest_e = rest_start, lengths
  elif tail == "end_aligned":
    has_rest = (leftover > 0) & (lengths >= MIN_WINDOW)
    dropped = int(np.sum((leftover > 0) & (lengths < MIN_WINDOW)))
    rest_s, rest_e = np.maximum(lengths - max_len, 0), lengths
  else:
    raise ValueError(f"data.protocol.tail_window must be one of {TAIL_WINDOWS}, got {tail!r}")
  counts = full + has_rest
  user = np.repeat(np.arange(lengths.size), counts)
  k = np.arange(user.size) - np.repeat(np.cumsum(counts) - counts, counts)
  is_rest = k >= full[user]
  start = np.where(is_rest, rest_s[user], k * stride)
  end = np.where(is_rest, rest_e[user], k * stride + max_len)
  return user, start, end, dropped


def sample_negatives(exclude_offsets: np.ndarray, exclude_items: np.ndarray, num_items: int,
                     k: int, probs: np.ndarray | None, rng: np.random.Generator,
                     max_rounds: int = 64, chunk_users: int = 20_000) -> np.ndarray:
  """k distinct items per user, never one the user interacted with.

  Successive sampling: items are drawn i.i.d. (uniformly over 1..N, or proportional to
  `probs[1:]`), duplicates and excluded items are rejected, and the first k accepted
  draws are kept. This is exactly sampling without replacement from the allowed items.

  Args:
    exclude_offsets: int64[U+1] CSR offsets into exclude_items.
    exclude_items: int32[E] items of each user (any order, duplicates allowed).
    num_items: N, ids 1..N.
    k: negatives per user.
    probs: optional float[N+1] sampling weights (index 0 ignored).
    rng: numpy Generator (fixed by the data seed).
    chunk_users: users per chunk (memory is O(chunk_users * k^2) booleans).
  Returns:
    int32[U, k].
  """
  num_users = exclude_offsets.size - 1
  if num_users > chunk_users:
    parts = []
    for lo in range(0, num_users, chunk_users):
      hi = min(lo + chunk_users, num_users)
      off = exclude_offsets[lo:hi + 1]
      parts.append(sample_negatives(off - off[0], exclude_items[off[0]:off[-1]], num_items, k,
                                    probs, rng, max_rounds, chunk_users))
    return np.concatenate(parts)
  lengths = np.diff(exclude_offsets)
  user_of = np.repeat(np.arange(num_users, dtype=np.int64), lengths)
  banned = np.unique(user_of * (num_items + 1) + exclude_items.astype(np.int64))
  n_banned = np.bincount(banned // (num_items + 1), minlength=num_users)
  short = np.flatnonzero(num_items - n_banned < k)
  if short.size:
    raise ValueError(f"{short.size} users have fewer than {k} items they never interacted with "
                     f"(first: user index {short[0]}, {num_items - n_banned[short[0]]} left); "
                     "lower data.protocol.num_negatives")
  if probs is not None:
    cdf = np.cumsum(np.asarray(probs[1:], np.float64))
    cdf /= cdf[-1]
  out = np.zeros((num_users, k), np.int32)
  filled = np.zeros(num_users, np.int64)
  todo = np.arange(num_users)
  draws = 2 * k + 8
  for _ in range(max_rounds):
    if todo.size == 0:
      break
    if probs is None:
      cand = rng.integers(1, num_items + 1, size=(todo.size, draws), dtype=np.int64)
    else:
      cand = np.searchsorted(cdf, rng.random((todo.size, draws)), side="right") + 1
      cand = np.minimum(cand, num_items)
    keys = todo[:, None] * (num_items + 1) + cand
    ok = ~np.isin(keys, banned)
    # Reject repeats of an item already chosen for this user or drawn earlier in this row.
    prev = out[todo]
    ok &= ~(cand[:, :, None] == prev[:, None, :]).any(-1)
    order = np.argsort(cand, axis=1, kind="stable")
    sorted_c = np.take_along_axis(cand, order, 1)
    first = np.ones_like(sorted_c, bool)
    first[:, 1:] = sorted_c[:, 1:] != sorted_c[:, :-1]
    is_first = np.empty_like(first)
    np.put_along_axis(is_first, order, first, 1)
    ok &= is_first
    rank = np.cumsum(ok, axis=1) - 1 + filled[todo][:, None]
    take = ok & (rank < k)
    rows, cols = np.nonzero(take)
    out[todo[rows], rank[rows, cols]] = cand[rows, cols]
    filled[todo] = np.minimum(filled[todo] + ok.sum(1), k)
    todo = todo[filled[todo] < k]
  if todo.size:
    raise RuntimeError(f"negative sampling did not finish for {todo.size} users")
  return out


def item_filter(seqs: UserSequences, min_count: int) -> tuple[UserSequences, dict]:
  """Drops events whose user or item has < min_count events, in one pass (counts before).

  The authors' preprocessing (docs/design.md, `authors_code` preset); ids are re-indexed densely
  in ascending order of the kept old ids. Returns the new sequences and a report.
  """
  if min_count <= 1:
    return seqs, {}
  lengths = seqs.lengths
  item_count = np.bincount(seqs.items, minlength=seqs.num_items + 1)
  user_of = np.repeat(np.arange(seqs.num_users), lengths)
  keep = (item_count[seqs.items] >= min_count) & (lengths[user_of] >= min_count)
  kept_items = np.flatnonzero(item_count >= min_count)
  kept_items = kept_items[kept_items > 0]
  remap = np.zeros(seqs.num_items + 1, np.int32)
  remap[kept_items] = np.arange(1, kept_items.size + 1, dtype=np.int32)
  new_len = np.bincount(user_of[keep], minlength=seqs.num_users)
  keep_user = new_len > 0
  offsets = np.concatenate([[0], np.cumsum(new_len[keep_user])]).astype(np.int64)
  item_ids = None if seqs.item_ids is None else np.concatenate(
      [seqs.item_ids[:1], seqs.item_ids[kept_items]])
  clusters = None if seqs.clusters is None else np.concatenate(
      [[-1], seqs.clusters[kept_items]]).astype(np.int32)
  report = {"filter_min_count": min_count,
            "filter_events_dropped": int((~keep).sum()),
            "filter_items_dropped": int(seqs.num_items - kept_items.size),
            "filter_users_dropped": int((~keep_user).sum())}
  out = UserSequences(items=remap[seqs.items[keep]], offsets=offsets,
                      num_items=int(kept_items.size),
                      user_ids=None if seqs.user_ids is None else seqs.user_ids[keep_user],
                      item_ids=item_ids, clusters=clusters, report={**seqs.report, **report})
  return out, report


def head_clusters(target_counts, clusters, fraction: float = 0.2) -> np.ndarray:
  """Items of the head clusters: the ceil(fraction * C) clusters with the most training targets
  (ties: the smaller cluster id), as the paper's Fig. 3d/e split frequent from infrequent
  interest clusters. clusters: int[N+1] (index 0 padding, ignored). Returns bool[N+1]."""
  counts = np.asarray(target_counts).reshape(-1).astype(np.float64)
  clusters = np.asarray(clusters).reshape(-1)
  ids = np.unique(clusters[1:])
  per_cluster = np.array([counts[1:][clusters[1:] == c].sum() for c in ids])
  num_head = max(1, int(np.ceil(round(fraction * ids.size, 9))))
  head = ids[np.lexsort((ids, -per_cluster))[:num_head]]
  out = np.isin(clusters, head)
  out[0] = False
  return out


def head_items(target_counts, fraction: float = 0.2) -> np.ndarray:
  """Head items (Sec. 4.2): the most frequent training targets.

  The head is the ceil(fraction * N) most frequent items of the WHOLE catalogue of N items
  (not only of the items seen as targets), ordered by count descending with ties broken by
  the smaller id; so the head always holds exactly ceil(fraction * N) items, and if fewer
  items than that were ever a target, never-seen items of smallest id fill it up. Every
  other item is tail.

  Args:
    target_counts: int[N + 1], how often each item is a training target; index 0 (padding)
      is ignored.
    fraction: head share of the catalogue (0.2, the Pareto principle of Sec. 4.2).

  Returns:
    bool[N + 1], True for head items; index 0 is False.
  """
  counts = np.asarray(target_counts).reshape(-1)
  n = counts.size - 1
  if n < 0 or not 0 <= fraction <= 1:
    raise ValueError(f"head_items: need counts [N+1] and 0 <= fraction <= 1, got "
                     f"{counts.shape}, {fraction}")
  num_head = min(n, int(np.ceil(round(fraction * n, 9))))  # round: 0.2 * 15 is 3.0000000000000004
  ids = np.arange(1, n + 1)
  order = np.lexsort((ids, -counts[1:].astype(np.float64)))
  head = np.zeros(n + 1, dtype=bool)
  head[ids[order[:num_head]]] = True
  return head


def first_users(seqs: UserSequences, max_users: int) -> tuple[UserSequences, dict]:
  """The first `max_users` users of `seqs` (0: all), for small runs; and a report."""
  if not 0 < max_users < seqs.num_users:
    return seqs, {}
  end = int(seqs.offsets[max_users])
  out = dataclasses.replace(seqs, items=seqs.items[:end], offsets=seqs.offsets[:max_users + 1],
                            user_ids=None if seqs.user_ids is None else seqs.user_ids[:max_users])
  return out, {"users_kept": max_users}


def _rows(seqs: UserSequences, user: np.ndarray, start: np.ndarray, end: np.ndarray,
          width: int) -> np.ndarray:
  """int32[R, width]: items start..end-1 of each row's user, right-padded with 0."""
  pos = np.arange(width)
  idx = seqs.offsets[user][:, None] + start[:, None] + pos[None, :]
  valid = pos[None, :] < (end - start)[:, None]
  return np.where(valid, seqs.items[np.minimum(idx, max(seqs.items.size - 1, 0))],
                  0).astype(np.int32)


def loo_window_bounds(train_len: np.ndarray, max_len: int) -> tuple[np.ndarray, ...]:
  """(user, start, end) of the leave-one-out training windows, oldest first per user.

  Each user's training part of n items is cut from its end: window k (k = 0 the latest) ends at
  n - k (max_len - 1) and holds at most max_len items, so consecutive windows share one item
  and every item but the first is a target of exactly one window; a window needs 2 items.
  """
  n = np.asarray(train_len, np.int64)
  step = max_len - 1
  count = np.where(n >= 2, (n - 2) // step + 1, 0)
  user = np.repeat(np.arange(n.size), count)
  j = np.arange(user.size) - np.repeat(np.cumsum(count) - count, count)   # 0 = oldest
  end = n[user] - (count[user] - 1 - j) * step
  return user, np.maximum(end - max_len, 0), end


def loo_queries(seqs: UserSequences, users: np.ndarray, offset: int, width: int) -> Queries:
  """The query of each of `users` whose target is its item at index n - offset (1: test, the
  last; 2: validation): the up to width - 1 items before it, then the target."""
  n = seqs.lengths[users].astype(np.int64)
  end = n - offset + 1                       # one past the target
  start = np.maximum(end - width, 0)
  rows = _rows(seqs, users, start, end, width)
  hist_len = end - 1
  hist_off = np.concatenate([[0], np.cumsum(hist_len)]).astype(np.int64)
  within = np.arange(hist_off[-1]) - np.repeat(hist_off[:-1], hist_len)
  hist = seqs.items[np.repeat(seqs.offsets[users], hist_len) + within].astype(np.int32)
  return Queries(windows=rows, positions=(end - start - 2).astype(np.int32),
                 targets=seqs.items[seqs.offsets[users] + end - 1].astype(np.int32),
                 user=users.astype(np.int32), history=(hist_off, hist))


def _leave_one_out(seqs: UserSequences, max_len: int, train_targets: str):
  """(windows, lengths, window user, target mask over positions 1.., queries, report)."""
  n = seqs.lengths.astype(np.int64)
  evaluated = np.flatnonzero(n >= 3)
  train_len = np.where(n >= 3, n - 2, n)
  user, start, end = loo_window_bounds(train_len, max_len)
  lengths = (end - start).astype(np.int32)
  width = int(min(max_len, max(int(lengths.max(initial=0)), int(n.max(initial=0)), 2)))
  windows = _rows(seqs, user, start, end, width)
  tpos = np.arange(1, width)
  if train_targets == "every_prefix":
    tmask = tpos[None, :] <= (lengths[:, None] - 1)
  else:
    tmask = tpos[None, :] == (lengths[:, None] - 1)
  queries = {"valid": loo_queries(seqs, evaluated, 2, width),
             "test": loo_queries(seqs, evaluated, 1, width)}
  report = {"users_not_evaluated": int(seqs.num_users - evaluated.size)}
  return windows, lengths, user, tmask, queries, report


def build_splits(seqs: UserSequences, *, max_len: int = 30, stride: int | None = None,
                 tail_window: str = "remainder", train_targets: str = "every_prefix",
                 num_negatives: int = 99, negative_sampler: str = "uniform",
                 min_count: int = 0, head_fraction: float = 0.2, seed: int = 0,
                 split: str = "windows", max_users: int = 0) -> Splits:
  """Applies the protocol of Sec. 4.1-4.2, or leave-one-out (defaults: the `paper` preset,
  docs/design.md). max_users > 0 keeps only the first users (before the item filter)."""
  if split not in SPLITS:
    raise ValueError(f"data.protocol.split must be one of {SPLITS}, got {split!r}")
  if max_len < MIN_WINDOW + 1:
    raise ValueError(f"data.protocol.max_len must be >= {MIN_WINDOW + 1}, got {max_len}")
  stride = max_len if not stride else stride
  if not 0 < stride <= max_len:
    raise ValueError(f"data.protocol.stride must be in 1..max_len={max_len}, got {stride}")
  if train_targets not in TRAIN_TARGETS:
    raise ValueError(f"data.protocol.train_targets must be one of {TRAIN_TARGETS}, "
                     f"got {train_targets!r}")
  if negative_sampler not in NEGATIVE_SAMPLERS:
    raise ValueError(f"data.protocol.negative_sampler must be one of {NEGATIVE_SAMPLERS}, "
                     f"got {negative_sampler!r}")
  report = {"users_in": seqs.num_users, "items_in": seqs.num_items,
            "interactions_in": seqs.num_interactions}
  seqs, users_report = first_users(seqs, max_users)
  report.update(users_report)
  seqs, filter_report = item_filter(seqs, min_count)
  report.update(filter_report)
  if split == "leave_one_out":
    windows, lengths, user, tmask, queries, loo_report = _leave_one_out(seqs, max_len,
                                                                         train_targets)
    report.update(loo_report)
    return _finish(seqs, windows, lengths, user, tmask, report, num_negatives,
                   negative_sampler, head_fraction, seed, train_targets, split, queries)
  user, start, end, dropped = window_bounds(seqs.lengths, max_len, stride, tail_window)
  report["short_windows_dropped"] = dropped
  report["users_without_window"] = int(seqs.num_users - np.unique(user).size)
  lengths = (end - start).astype(np.int32)
  # Trim padding columns nobody uses (e.g. T = 20 synthetic sequences in windows of 30).
  width = int(min(max_len, max(int(lengths.max(initial=0)), MIN_WINDOW + 1)))
  pos = np.arange(width)
  idx = seqs.offsets[user][:, None] + start[:, None] + pos[None, :]
  valid = pos[None, :] < lengths[:, None]
  windows = np.where(valid, seqs.items[np.minimum(idx, seqs.items.size - 1)], 0).astype(np.int32)

  # Training targets: positions 1..n-3 (every prefix) or position n-3 (last).
  tpos = np.arange(1, width)
  if train_targets == "every_prefix":
    tmask = tpos[None, :] <= (lengths[:, None] - 3)
  else:
    tmask = tpos[None, :] == (lengths[:, None] - 3)
  return _finish(seqs, windows, lengths, user, tmask, report, num_negatives, negative_sampler,
                 head_fraction, seed, train_targets, split, None)


def _finish(seqs, windows, lengths, user, tmask, report, num_negatives, negative_sampler,
            head_fraction, seed, train_targets, split, queries) -> Splits:
  """Training-target counts, negatives, head items and the report: the Splits."""
  train_counts = np.bincount(windows[:, 1:][tmask], minlength=seqs.num_items + 1).astype(np.int64)
  train_counts[0] = 0

  negatives = None
  if seqs.num_items > num_negatives + 1 and num_negatives > 0:
    rng = np.random.default_rng(seed)
    probs = None
    if negative_sampler == "popularity":
      probs = np.bincount(seqs.items, minlength=seqs.num_items + 1).astype(np.float64)
    negatives = sample_negatives(seqs.offsets, seqs.items, seqs.num_items, num_negatives, probs,
                                 rng)
  report.update({"windows": int(windows.shape[0]),
                 "train_examples": int(train_counts.sum()),
                 "eval_examples_per_split": int(windows.shape[0] if queries is None
                                                else queries["test"].size),
                 "sampled_protocol": negatives is not None})
  if report["train_examples"] == 0:
    counts = ", ".join(f"{k} {v}" for k, v in report.items() if k != "sampled_protocol")
    need = (f"a window needs at least {MIN_WINDOW + 1} items to hold a training target (its last "
            "two are validation and test)" if queries is None else
            "a user needs at least 4 items to hold a training target besides its validation "
            "and test items")
    raise ValueError(f"data: nothing to train on after the protocol ({counts}); {need}")
  return Splits(windows=windows, lengths=lengths, window_user=user.astype(np.int32),
                num_items=seqs.num_items, train_counts=train_counts, negatives=negatives,
                is_head=head_items(train_counts, head_fraction), clusters=seqs.clusters,
                train_targets=train_targets, report=report,
                is_head_cluster=None if seqs.clusters is None else head_clusters(
                    train_counts, seqs.clusters, head_fraction),
                item_ids=seqs.item_ids, split=split, loo_queries=queries)
