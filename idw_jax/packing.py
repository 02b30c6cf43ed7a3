"""Sequence packing for every-prefix training: several short windows share one row.

On short-sequence data (the Amazon sets: 7-9 items per user in 30-slot windows) most slots of
a padded batch are empty, and the in-batch softmax costs O((rows x positions)^2 M d) whether a
slot holds an example or not. Packing puts the training part of each window (its first n - 2
items: inputs 0..n-4, targets 1..n-3) next to the others in a row, next-fit in the epoch's
shuffled order, so almost every position is an example. Segment ids keep the windows apart in
attention and pooling and positions restart at 0 in each window, so every example's user
representation is exactly that of its window alone (`tests/test_packing.py`).

Pure functions; `pack` runs on device (a `lax.scan` for the layout, one scatter for the rows).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def segment_lengths(lengths: np.ndarray) -> np.ndarray:
  """Training tokens of each window: n - 2 items when n >= 4, else 0 (no training example)."""
  n = np.asarray(lengths, np.int64)
  return np.where(n >= 4, n - 2, 0).astype(np.int32)


def rows_bound(seg_len: np.ndarray, capacity: int) -> int:
  """Rows next-fit needs in the worst order: two consecutive rows hold > capacity tokens."""
  seg_len = np.asarray(seg_len, np.int64)
  if seg_len.max(initial=0) > capacity:
    raise ValueError(f"a window's training part ({seg_len.max()}) exceeds the row ({capacity})")
  total, nonempty = int(seg_len.sum()), int((seg_len > 0).sum())
  return max(1, min(nonempty, 2 * total // capacity + 1))


def next_fit(seg_len: jax.Array, capacity: int) -> tuple[jax.Array, jax.Array]:
  """Row and offset of each segment, in order, opening a new row when one does not fit.

  seg_len int32[P] -> (row int32[P], offset int32[P]); empty segments get row -1.
  """
  def place(carry, n):
    row, fill = carry
    new = fill + n > capacity
    row = row + new.astype(jnp.int32)
    fill = jnp.where(new, 0, fill)
    return (row, fill + n), (jnp.where(n > 0, row, -1), fill)

  _, (row, offset) = jax.lax.scan(place, (jnp.int32(0), jnp.int32(0)), seg_len)
  return row, offset


def pack(windows: jax.Array, seg_len: jax.Array, order: jax.Array, *, capacity: int,
         num_rows: int) -> dict:
  """Packs windows[order] (their first seg_len items) into rows.

  Args:
    windows: int32[W, L] right-padded windows; seg_len: int32[W]; order: int32[P] indices.
    capacity: row length (>= every seg_len); num_rows: rows of the result (>= rows used).
  Returns:
    {"tokens", "segments", "positions"}: int32[num_rows, capacity]; segments holds 1 + the
    window's place in `order` (0: empty slot), positions the index within the window.
  """
  n = seg_len[order]
  row, offset = next_fit(n, capacity)
  j = jnp.arange(capacity, dtype=jnp.int32)
  used = j[None, :] < n[:, None]                                   # [P, capacity]
  r = jnp.where(used, row[:, None], num_rows)                     # unused: out of bounds
  c = offset[:, None] + j[None, :]
  zeros = jnp.zeros((num_rows, capacity), jnp.int32)

  def scatter(values):
    return zeros.at[r, c].set(jnp.broadcast_to(values, used.shape), mode="drop")

  seg_id = jnp.arange(1, order.shape[0] + 1, dtype=jnp.int32)[:, None]
  return {"tokens": scatter(windows[order][:, :capacity]), "segments": scatter(seg_id),
          "positions": scatter(j[None, :])}
