"""Sequence packing: a valid next-fit layout, and the same examples, representations and loss."""

import jax
import jax.numpy as jnp
import numpy as np

from idw_jax import packing
from idw_jax.data import pipeline
from idw_jax.data.types import UserSequences
from idw_jax.train import Trainer
from tests.tiny import tiny_config


def _short_sequences(num_users=120, num_items=40, seed=0) -> UserSequences:
  """Users with 3-40 items (mean ~9): windows of very different lengths, as on Amazon data."""
  rng = np.random.default_rng(seed)
  lengths = np.minimum(3 + rng.geometric(1 / 7, size=num_users), 40)
  items = rng.integers(1, num_items + 1, size=lengths.sum()).astype(np.int32)
  return UserSequences(items=items, offsets=np.concatenate([[0], np.cumsum(lengths)]),
                       num_items=num_items)


def _trainer(pack: bool) -> Trainer:
  cfg = tiny_config("mur", **{"train.pack_windows": pack, "train.batch_size": 16})
  return Trainer(cfg, pipeline.make_splits(cfg.data, _short_sequences()))


def test_next_fit_layout_places_every_window_once_within_capacity():
  rng = np.random.default_rng(1)
  windows = rng.integers(1, 50, size=(300, 30)).astype(np.int32)
  seg = rng.integers(0, 29, size=300).astype(np.int32)          # 0: no training example
  order = rng.permutation(300).astype(np.int32)
  rows = packing.rows_bound(seg, 28)
  out = jax.tree.map(np.asarray, packing.pack(jnp.asarray(windows), jnp.asarray(seg),
                                              jnp.asarray(order), capacity=28, num_rows=rows))
  assert out["tokens"].shape == (rows, 28)
  for k, w in enumerate(order):
    where = np.argwhere(out["segments"] == k + 1)
    assert len(where) == seg[w]                                 # all of it, nowhere else
    if seg[w]:
      r = where[:, 0]
      assert (r == r[0]).all()                                  # one row, contiguous, in order
      np.testing.assert_array_equal(where[:, 1], where[0, 1] + np.arange(seg[w]))
      np.testing.assert_array_equal(out["tokens"][r[0], where[:, 1]], windows[w, :seg[w]])
      np.testing.assert_array_equal(out["positions"][r[0], where[:, 1]], np.arange(seg[w]))
  # Next fit: a row was closed only because the next window did not fit in it.
  row, _ = map(np.asarray, packing.next_fit(jnp.asarray(seg[order]), 28))
  fill = np.bincount(row[row >= 0], weights=seg[order][row >= 0], minlength=rows)
  for k in np.flatnonzero(np.diff(np.maximum.accumulate(row)) > 0) + 1:
    assert fill[row[k] - 1] + seg[order][k] > 28


def test_packed_loss_equals_unpacked_loss_on_the_same_windows():
  plain, packed = _trainer(False), _trainer(True)
  params = plain.init_params(jax.random.key(0))
  tables = plain.tables()
  tab = {k: jnp.asarray(getattr(tables, k)) for k in ("log_q", "example_weight", "margin")}
  ids = np.arange(plain.splits.num_windows, dtype=np.int32)
  want, aux_want = plain.loss(params, plain.windows[ids], plain.lengths[ids], tab, 0.0)
  rows = packing.pack(packed.windows, packed.seg_len, jnp.asarray(ids),
                      capacity=packed.capacity, num_rows=len(ids))
  assert int((rows["segments"].max(axis=1) > 0).sum()) < len(ids) / 2   # it does pack
  got, aux_got = packed.packed_loss(params, rows, tab, 0.0)
  assert int(aux_got["count"]) == int(aux_want["count"]) > 0
  np.testing.assert_allclose(float(got), float(want), rtol=1e-5)


def test_packed_user_tower_matches_each_window_alone():
  tr = _trainer(True)
  params = tr.init_params(jax.random.key(2))
  ids = np.arange(12, dtype=np.int32)
  rows = packing.pack(tr.windows, tr.seg_len, jnp.asarray(ids), capacity=tr.capacity,
                      num_rows=12)
  z_rows = tr.user.apply({"params": params["user"]}, rows["tokens"], segments=rows["segments"],
                         positions=rows["positions"])
  z_alone = tr.user.apply({"params": params["user"]}, tr.windows[ids][:, :tr.capacity])
  seg = np.asarray(rows["segments"])
  for k in range(12):
    r, c = np.nonzero(seg == k + 1)
    if len(c):
      np.testing.assert_allclose(np.asarray(z_rows[r[0], c]), np.asarray(z_alone[k, :len(c)]),
                                 rtol=1e-5, atol=1e-6)


def test_packed_training_epoch_learns_and_skips_empty_steps():
  tr = _trainer(True)
  assert tr.steps_per_epoch < _trainer(False).steps_per_epoch
  params = tr.init_params(jax.random.key(3))
  state = {"params": params, "opt_state": tr.init_opt_state(params, 0.01)}
  losses = []
  for epoch in range(3):
    plan = tr.epoch_permutation(jax.random.key(epoch))
    used = int((np.asarray(plan["segments"]).reshape(tr.steps_per_epoch, -1).max(axis=1) > 0)
               .sum())
    state, out = tr.train_steps(state, plan, 0, tr.steps_per_epoch, tr.tables())
    assert int(out["steps"]) == used                            # empty steps did not update
    losses.append(float(out["loss_sum"]) / int(out["steps"]))
  assert losses[-1] < losses[0]
