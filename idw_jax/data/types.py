"""The one data type every source produces: time-ordered item sequences per user.

Every reader (synthetic generator, MovieLens, Amazon, generic text formats) returns a
`UserSequences`; the protocol (`idw_jax.data.protocol`) turns it into windows, splits
and negatives. Stored as CSR arrays so that Clothing-scale data (1.2M users, 10M events)
stays a few int32 arrays, never a Python list per user.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class UserSequences:
  """Time-ordered interactions of every user, items re-indexed to 1..num_items.

  Attributes:
    items: int32[E], the items of user u are items[offsets[u]:offsets[u+1]], oldest first.
      Ids are 1..num_items; 0 is reserved for padding and never appears here.
    offsets: int64[U+1], CSR offsets, offsets[0] == 0, non-decreasing.
    num_items: size of the catalogue (max item id).
    user_ids: optional [U] original user ids (any dtype), for reports.
    item_ids: optional [num_items + 1] original item id of each dense id (index 0 unused).
    clusters: optional int32[num_items + 1], ground-truth cluster of each item (synthetic data);
      clusters[0] = -1.
    report: what the reader kept, dropped and why (counts), printed in the dataset summary.
  """

  items: np.ndarray
  offsets: np.ndarray
  num_items: int
  user_ids: np.ndarray | None = None
  item_ids: np.ndarray | None = None
  clusters: np.ndarray | None = None
  report: dict[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    items, offsets = self.items, self.offsets
    if items.ndim != 1 or offsets.ndim != 1 or offsets.size < 1:
      raise ValueError(f"UserSequences: items must be 1-D and offsets 1-D non-empty, got "
                       f"{items.shape} and {offsets.shape}")
    if offsets[0] != 0 or offsets[-1] != items.size or np.any(np.diff(offsets) < 0):
      raise ValueError("UserSequences: offsets must start at 0, be non-decreasing and end at "
                       f"len(items)={items.size}")
    if items.size and (items.min() < 1 or items.max() > self.num_items):
      raise ValueError(f"UserSequences: item ids must lie in 1..{self.num_items}, got "
                       f"{items.min()}..{items.max()}")
    if self.clusters is not None and self.clusters.shape != (self.num_items + 1,):
      raise ValueError(f"UserSequences: clusters must have shape ({self.num_items + 1},), got "
                       f"{self.clusters.shape}")

  @property
  def num_users(self) -> int:
    return self.offsets.size - 1

  @property
  def num_interactions(self) -> int:
    return int(self.items.size)

  @property
  def lengths(self) -> np.ndarray:
    return np.diff(self.offsets)

  def sequence(self, u: int) -> np.ndarray:
    """Items of user u (a view), oldest first."""
    return self.items[self.offsets[u]:self.offsets[u + 1]]

  @staticmethod
  def from_lists(seqs: list[np.ndarray] | list[list[int]], num_items: int | None = None,
                 **kwargs) -> "UserSequences":
    """Builds from a list of per-user item arrays (ids already 1..num_items); for tests."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = (np.concatenate([np.asarray(s, dtype=np.int32) for s in seqs])
             if seqs else np.zeros(0, np.int32)).astype(np.int32)
    if num_items is None:
      num_items = int(items.max()) if items.size else 0
    return UserSequences(items=items, offsets=offsets, num_items=int(num_items), **kwargs)
