"""Training and evaluation of the two-tower model: jitted, deterministic, no I/O.

`Trainer` binds the towers, the config and the device-resident data; its methods are pure
in the sense that state goes in and state comes out. An epoch is a sequence of jitted calls
that each run `train.steps_per_call` steps under `lax.scan`, so Python overhead is per call,
not per step, and a call boundary is where the driver may checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from idw_jax import affinity as affinity_lib
from idw_jax import losses
from idw_jax import metrics
from idw_jax import models
from idw_jax import packing
from idw_jax import sharding
from idw_jax.data.protocol import Splits

PyTree = Any


@dataclasses.dataclass(frozen=True)
class LossTables:
  """Per-item tables used by the loss, float32[N+1] each (index = item id)."""

  log_q: np.ndarray
  example_weight: np.ndarray
  margin: np.ndarray


def make_optimizer(learning_rate: float) -> optax.GradientTransformation:
  """Adam (Sec. 4.4) with the learning rate inside the state, so phases share one jit."""
  return optax.inject_hyperparams(optax.adam)(learning_rate=learning_rate)


def with_learning_rate(opt_state, learning_rate: float, mesh: Mesh | None):
  """opt_state with its learning rate set (float32, on every device of the mesh): a new
  pytree, the old one unchanged."""
  lr = sharding.replicate(np.float32(learning_rate), mesh)
  return opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": lr})


@dataclasses.dataclass(frozen=True)
class Schedule:
  """Learning rate of a training phase as a function of its step (`scheduled_lr`).

  peak: the phase's learning rate; total: the phase's step budget (0 = constant peak);
  warmup: linear warm-up steps; final: the rate at step `total`, as a fraction of peak.
  """

  peak: float
  total: int = 0
  warmup: int = 0
  final: float = 1.0

  def arrays(self) -> dict:
    return {"peak": jnp.float32(self.peak), "total": jnp.int32(self.total),
            "warmup": jnp.int32(self.warmup), "final": jnp.float32(self.final)}


def scheduled_lr(step, sched: dict):
  """Linear warm-up to sched["peak"] over sched["warmup"] steps, then cosine decay to
  peak * sched["final"] at step sched["total"] (held there after). total = 0 gives the peak at
  every step, bit for bit (the constant schedule). Pure; step and the fields may be traced.
  Not optax.warmup_cosine_decay_schedule: its warm-up counts from step 0 (rate 0 there), ours
  from 1 (peak / warmup), and even its cosine differs in the last bit: runs would change."""
  step = jnp.asarray(step, jnp.float32)
  warmup, total = sched["warmup"].astype(jnp.float32), sched["total"].astype(jnp.float32)
  warm = jnp.where(warmup > 0, jnp.minimum(1.0, (step + 1.0) / jnp.maximum(warmup, 1.0)), 1.0)
  progress = jnp.where(total > warmup,
                       jnp.clip((step - warmup) / jnp.maximum(total - warmup, 1.0), 0.0, 1.0),
                       0.0)
  final = sched["final"]
  decay = final + (1.0 - final) * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
  return sched["peak"] * warm * decay


@dataclasses.dataclass(frozen=True)
class StepSpec:
  """Everything the training step's code depends on besides its array arguments. Hashable:
  it is the step's static argument, so every Trainer with an equal spec (and equal shapes)
  shares one compiled step."""

  user: models.UserTower
  item: models.ItemTower
  batch_size: int
  max_len: int
  num_items: int
  train_targets: str          # data.protocol.train_targets
  packed: bool                # train.pack_windows, with every-prefix targets
  affinity: str               # model.affinity
  temperature: float          # model.temperature
  item_norm: str              # model.item_norm
  use_logq: bool              # loss.use_logq
  remove_accidental_hits: bool
  softmax_groups: int         # train.softmax_groups: in-batch softmaxes per step
  mesh: Mesh | None           # the 1-D "data" mesh batches are split over (None: one device)
  held_out: int = 2           # items at a training window's end that are no targets
                              # (Splits.held_out: 2 windows, 0 leave-one-out)
  target_capacity: int = 0    # train.compact_targets: rows the loss keeps (0: all B x T;
                              # set per epoch by Trainer, `epoch_capacity`)

  @classmethod
  def from_config(cls, cfg, splits: Splits, mesh: Mesh | None) -> "StepSpec":
    user, item = models.make_towers(cfg.model, splits.num_items, splits.max_len)
    return cls(user=user, item=item, batch_size=cfg.train.batch_size, max_len=splits.max_len,
               num_items=splits.num_items, train_targets=splits.train_targets,
               packed=bool(cfg.train.pack_windows) and splits.train_targets == "every_prefix",
               affinity=cfg.model.affinity, temperature=float(cfg.model.temperature),
               item_norm=cfg.model.item_norm, use_logq=bool(cfg.loss.use_logq),
               remove_accidental_hits=bool(cfg.loss.remove_accidental_hits),
               softmax_groups=int(cfg.train.softmax_groups), mesh=mesh,
               held_out=splits.held_out)

  @property
  def dropout(self) -> bool:
    """Whether training draws dropout masks (model.dropout > 0)."""
    return self.user.dropout > 0


def window_targets(lengths: np.ndarray, max_len: int, held_out: int) -> np.ndarray:
  """Every-prefix training targets of each window (`window_loss`'s mask, summed per window)."""
  return np.clip(np.asarray(lengths, np.int64) - 1 - held_out, 0, max_len - 1 - held_out)


def epoch_capacity(targets: np.ndarray, perm: np.ndarray, batch_size: int, num_rows: int,
                   multiple: int | None = None) -> int:
  """Rows a compacted loss needs in an epoch: the most training targets any of its batches
  (perm cut into batch_size windows; targets[w]: window w's) holds, rounded up to `multiple`
  (default num_rows / 32, at least 8: few distinct values, so few compilations) and at most
  num_rows (= batch_size x positions). A function of the whole epoch, so a run resumed
  mid-epoch compiles the same step."""
  multiple = multiple or max(8, num_rows // 32)
  per_batch = np.asarray(targets)[np.asarray(perm)].reshape(-1, batch_size).sum(axis=1)
  return int(min(max(-(-int(per_batch.max()) // multiple) * multiple, multiple), num_rows))


def _compact_check(cfg, splits: Splits, mesh: Mesh | None) -> bool:
  """Whether train.compact_targets is on; a one-line error where it cannot apply."""
  if not cfg.train.compact_targets:
    return False
  why = ("needs data.protocol.train_targets='every_prefix'"
         if splits.train_targets != "every_prefix" else
         "does not apply to packed rows (train.pack_windows), which hold few padded slots"
         if cfg.train.pack_windows else
         "needs train.softmax_groups=1" if cfg.train.softmax_groups != 1 else
         "runs on one device only" if sharding.num_devices(mesh) > 1 else "")
  if why:
    raise ValueError(f"config.train.compact_targets: {why}")
  return True


def item_embed(spec: StepSpec, item_params, ids, training: bool):
  """Item tower output, L2-normalised where the Item Norm variants ask for it."""
  v = spec.item.apply({"params": item_params}, ids)
  if spec.item_norm == "train_eval" or (spec.item_norm == "eval" and not training):
    v = losses.normalize_items(v)
  return v


def _user_apply(spec: StepSpec, params, *args, rngs=None, **kwargs):
  """The user tower in training: dropout on where `rngs` ({"dropout": key}) is given."""
  if rngs is None:
    return spec.user.apply({"params": params["user"]}, *args, **kwargs)
  return spec.user.apply({"params": params["user"]}, *args, **kwargs, deterministic=False,
                         rngs=rngs)


def window_loss(spec: StepSpec, params, windows, lengths, tables: dict, focal_gamma: float,
                rngs=None):
  """Every-prefix loss of a batch of windows [B, L] (one forward pass per window); a window's
  last spec.held_out items are no targets. rngs: {"dropout": key} in training with dropout."""
  h = spec.held_out
  t_len = spec.max_len - 1 - h                  # positions 0..L-2-h predict 1..L-1-h
  inp, tgt = windows[:, :t_len], windows[:, 1:t_len + 1]
  if spec.train_targets == "every_prefix":
    z = _user_apply(spec, params, inp, rngs=rngs)   # [B, T, M, d]
    b, tt, m, d = z.shape
    mask = jnp.arange(t_len)[None, :] <= lengths[:, None] - 2 - h
    z = z.reshape(b * tt, m, d)
    tgt, mask = tgt.reshape(-1), mask.reshape(-1)
    if spec.target_capacity:
      return compact_softmax_loss(spec, params, z, tgt, mask, tables, focal_gamma)
  else:
    # One target per window (position n-1-h, predicted at n-2-h): pool only that prefix.
    at = jnp.clip(lengths - 2 - h, 0, t_len - 1)
    z = _user_apply(spec, params, inp, at=at, rngs=rngs)   # [B, M, d]
    tgt = jnp.take_along_axis(tgt, at[:, None], axis=1)[:, 0]
    mask = lengths >= 2 + h
  return _softmax_loss(spec, params, z, tgt, mask, tables, focal_gamma)


def packed_loss(spec: StepSpec, params, rows: dict, tables: dict, focal_gamma: float,
                rngs=None):
  """Every-prefix loss of packed rows (`idw_jax.packing`): slot t predicts slot t + 1 of the
  same window; the examples and their user representations are those of `window_loss`."""
  seg = rows["segments"]
  z = _user_apply(spec, params, rows["tokens"][:, :-1], segments=seg[:, :-1],
                  positions=rows["positions"][:, :-1], rngs=rngs)
  b, tt, m, d = z.shape
  mask = (seg[:, :-1] == seg[:, 1:]) & (seg[:, :-1] > 0)
  return _softmax_loss(spec, params, z.reshape(b * tt, m, d),
                       rows["tokens"][:, 1:].reshape(-1), mask.reshape(-1), tables, focal_gamma)


def compact_softmax_loss(spec: StepSpec, params, z, tgt, mask, tables: dict,
                         focal_gamma: float):
  """`_softmax_loss` over the valid examples only, moved (in order) into the first
  spec.target_capacity rows: the padded slots of short windows (44% of SASRec's ML-1M batches)
  cost nothing in the [N, C] logit block. The same loss and gradients up to float rounding.
  The capacity must hold every batch's targets (`epoch_capacity`); no fallback branch, since
  a lax.cond under the gradient keeps both branches' residuals (slower than no compaction)."""
  cap = spec.target_capacity
  idx = jnp.nonzero(mask, size=cap, fill_value=0)[0]
  keep = jnp.arange(cap) < jnp.sum(mask)
  return _softmax_loss(spec, params, z[idx], jnp.asarray(tgt)[idx], keep, tables, focal_gamma)


def _softmax_loss(spec: StepSpec, params, z, tgt, mask, tables: dict, focal_gamma: float):
  """Eq. 1-3 (with the configured re-weighting) of examples z[N, M, d] -> tgt[N] where mask.

  With spec.softmax_groups = G > 1 the N examples (in batch order, so whole windows or rows)
  form G groups, each an in-batch softmax against its own group's targets only: the loss of
  G batches of B / G windows, averaged over all valid examples, for one Adam step.
  """
  g = spec.softmax_groups
  n = tgt.shape[0] // g
  # Merge repeated in-batch targets into one column when the catalogue is small (exact).
  dedup = spec.num_items + 2 if spec.num_items + 2 < n else None

  def group(z, tgt, mask):
    cand, count, pos = losses.in_batch_candidates(tgt, mask, dedup)
    cand_v = item_embed(spec, params["item"], cand, training=True)
    return losses.candidate_softmax_loss(
        z, cand_v, cand, count, tables["log_q"][cand], tgt, pos, mask,
        tables["example_weight"][tgt], affinity=spec.affinity, use_logq=spec.use_logq,
        remove_accidental_hits=spec.remove_accidental_hits, temperature=spec.temperature,
        focal_gamma=focal_gamma, margin=tables["margin"][tgt])

  if g == 1:
    return group(z, tgt, mask)
  loss, aux = jax.vmap(group)(z.reshape(g, n, *z.shape[1:]), tgt.reshape(g, n),
                              mask.reshape(g, n))
  # Each group's mean is over its own valid examples: turn them back into sums.
  count = aux["count"]
  total = jnp.maximum(jnp.sum(count), 1)
  mean = lambda x: jnp.sum(x * jnp.maximum(count, 1)) / total
  return mean(loss), {"ce": mean(aux["ce"]), "count": jnp.sum(count)}


# The run key's stream for dropout masks (init uses fold_in(key, 0), epochs 1 + phase id).
DROPOUT_STREAM = 2 ** 31 - 1


def dropout_key(run_key, phase_id: int) -> jax.Array:
  """uint32 key data of a training phase's dropout masks: its step k (epoch * steps_per_epoch
  + step) draws with fold_in(this, k), so a resumed run draws the masks it would have drawn."""
  return jax.random.key_data(jax.random.fold_in(jax.random.fold_in(run_key, DROPOUT_STREAM),
                                                phase_id))


@functools.partial(jax.jit, static_argnames=("spec", "focal_gamma"))
def train_call(state, data, perm, start, num_steps, tables, train_item, sched, phase_step,
               dropout=None, *, spec: StepSpec, focal_gamma: float):
  """num_steps (traced) Adam steps on batches perm[(start+s)*B:(start+s+1)*B].

  Step s runs at learning rate scheduled_lr(phase_step + s, sched) (phase_step: the phase's
  step count at `start`), with dropout masks from fold_in(dropout, phase_step + s) where
  spec.dropout (dropout: `dropout_key`'s key data; None without). Returns the new state and
  {"loss_sum", "steps"}: the summed loss of steps that had at least one training example (a
  window of length 3 has none) and their number. Pure and module-level: one compilation per
  (spec, focal_gamma, shapes).
  """
  opt = make_optimizer(0.0)  # the real learning rate lives in opt_state.hyperparams
  b = spec.batch_size

  def update(params, opt_state, loss_sum, steps, rngs, loss_fn, *args):
    (loss, aux), grads = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(
        spec, params, *args, tables, focal_gamma, rngs)
    updates, opt_state = opt.update(grads, opt_state, params)
    new = optax.apply_updates(params, updates)
    # Frozen item tower (calibration): keep the old values bit for bit.
    new["item"] = jax.tree.map(lambda a, b: jnp.where(train_item, a, b), new["item"],
                               params["item"])
    has = aux["count"] > 0
    return new, opt_state, loss_sum + jnp.where(has, loss, 0.0), steps + has

  def step(s, carry):
    lr = scheduled_lr(phase_step + s, sched)
    carry = (carry[0], carry[1]._replace(
        hyperparams={**carry[1].hyperparams, "learning_rate": lr}), *carry[2:])
    rngs = None
    if spec.dropout:
      rngs = {"dropout": jax.random.fold_in(jax.random.wrap_key_data(dropout), phase_step + s)}
    if spec.packed:   # perm is the epoch's packed rows; steps past the last row are skipped
      rows = jax.tree.map(lambda x: sharding.constrain_batch(
          jax.lax.dynamic_slice_in_dim(x, (start + s) * b, b), spec.mesh), perm)
      return jax.lax.cond(jnp.any(rows["segments"] > 0),
                          lambda c: update(*c, rngs, packed_loss, rows), lambda c: c, carry)
    idx = jax.lax.dynamic_slice(perm, ((start + s) * b,), (b,))
    windows = sharding.constrain_batch(data["windows"][idx], spec.mesh)
    lengths = sharding.constrain_batch(data["lengths"][idx], spec.mesh)
    return update(*carry, rngs, window_loss, windows, lengths)

  params, opt_state, loss_sum, steps = jax.lax.fori_loop(
      0, num_steps, step, (state["params"], state["opt_state"], jnp.float32(0), jnp.int32(0)))
  return {"params": params, "opt_state": opt_state}, {"loss_sum": loss_sum, "steps": steps}


class Trainer:
  """Towers + config + data on device; jitted train calls and evaluation."""

  def __init__(self, cfg, splits: Splits, mesh: Mesh | None = None):
    self.cfg = cfg
    self.splits = splits
    # 1-D "data" mesh with Auto axes (None on one device): batches split, the rest replicated.
    self.mesh = sharding.check_mesh(mesh)
    self.spec = StepSpec.from_config(cfg, splits, self.mesh)
    # train.compact_targets: each window's training targets (the padding window W: none).
    self.window_targets = (np.append(window_targets(splits.lengths, splits.max_len,
                                                    splits.held_out), 0)
                           if _compact_check(cfg, splits, self.mesh) else None)
    self.user, self.item = self.spec.user, self.spec.item
    self.batch_size = cfg.train.batch_size
    n_dev = sharding.num_devices(self.mesh)
    if self.batch_size % n_dev:
      raise ValueError(f"config.train.batch_size={self.batch_size} must be a multiple of the "
                       f"device count {n_dev}")
    w = splits.num_windows
    # Packing (train.pack_windows) applies to every-prefix training; batch_size then counts
    # rows of max_len - 2 slots, each holding the training parts of several windows.
    self.packed = self.spec.packed
    if self.packed and splits.held_out != 2:
      raise ValueError("config.train.pack_windows: packs the windows split only, not "
                       f"data.protocol.split={splits.split!r}")
    # Device-resident data, plus one all-padding window (index W) used to pad the last batch.
    pad = np.zeros((1, splits.max_len), np.int32)
    self.windows = self._replicate(np.concatenate([splits.windows, pad]))
    self.lengths = self._replicate(np.concatenate([splits.lengths, [0]]).astype(np.int32))
    # Evaluation rows per split: the windows themselves, or leave-one-out's own rows.
    self.query_windows = {s: self.windows if splits.loo_queries is None
                          else self._replicate(splits.queries(s).windows)
                          for s in ("valid", "test")}
    units = w if not self.packed else packing.rows_bound(
        packing.segment_lengths(splits.lengths), splits.max_len - 2)
    if self.batch_size > max(units, n_dev):
      raise ValueError(f"config.train.batch_size={self.batch_size} is larger than the data: "
                       f"{units} {'packed rows' if self.packed else 'windows'}; use at most "
                       f"{max(units, n_dev)}")
    if not self.packed:
      self.steps_per_epoch = -(-w // self.batch_size)
    else:
      self.capacity = splits.max_len - 2
      seg = packing.segment_lengths(splits.lengths)
      rows = packing.rows_bound(seg, self.capacity)
      self.steps_per_epoch = -(-rows // self.batch_size)
      self.seg_len = self._replicate(np.concatenate([seg, [0]]).astype(np.int32))
      self._pack = jax.jit(functools.partial(
          packing.pack, capacity=self.capacity,
          num_rows=self.steps_per_epoch * self.batch_size))
    self._item_emb = jax.jit(self._item_emb_impl, static_argnames=("training",))
    self._user_reps = jax.jit(self._user_reps_impl, static_argnames=("block",))
    self._sampled = jax.jit(self._sampled_impl, static_argnames=("block",))
    # One score function object per trainer: full_corpus_ranks compiles once per shape.
    self._score_fn = functools.partial(affinity_lib.affinity, kind=cfg.model.affinity)

  # ----------------------------------------------------------------------------------- setup
  def _replicate(self, x):
    """x (array or pytree) on every device of the mesh (plain device array without one)."""
    return sharding.replicate(x, self.mesh)

  def init_params(self, key) -> PyTree:
    params = models.init_params(key, self.user, self.item)
    return jax.tree.map(self._replicate, params)

  def init_opt_state(self, params, learning_rate: float) -> PyTree:
    return self._replicate(make_optimizer(learning_rate).init(params))

  def init_run_arrays(self, seed: int) -> dict:
    """A fresh run's arrays (what its checkpoints hold): parameters, optimizer state, the best
    parameters so far, the IDW item weights (the target frequencies) and the run's key."""
    key = jax.random.key(seed)
    params = self.init_params(jax.random.fold_in(key, 0))
    return {"params": params,
            "opt_state": self.init_opt_state(params, self.cfg.train.learning_rate),
            "best_params": jax.tree.map(jnp.copy, params),
            "item_weight": self._replicate(np.asarray(self.splits.item_prob, np.float32)),
            "rng": self._replicate(jax.random.key_data(key))}

  def tables(self, item_weight: np.ndarray | None = None, margin: bool = False) -> LossTables:
    """Loss tables for a phase: item_weight None means the unweighted loss (Eq. 3); margin
    adds Qmargin's per-item margins."""
    p = self.splits.item_prob
    n1 = p.size
    if item_weight is None:
      ew = np.where(p > 0, 1.0, 0.0).astype(np.float32)
    else:
      ew = losses.example_weights(item_weight, p, self.cfg.idw.example_weight)
    margins = (losses.qmargin_table(self.splits.train_counts, self.cfg.loss.qmargin_max)
               if margin else np.zeros(n1, np.float32))
    return LossTables(log_q=losses.log_q_table(p), example_weight=ew, margin=margins)

  def device_tables(self, tables: LossTables) -> dict:
    """The tables as the jitted step takes them, on every device: place them once a phase."""
    return self._replicate({"log_q": jnp.asarray(tables.log_q),
                            "example_weight": jnp.asarray(tables.example_weight),
                            "margin": jnp.asarray(tables.margin)})

  # ------------------------------------------------------------------------------- training
  def item_embed(self, item_params, ids, training: bool):
    """Item tower output, L2-normalised where the Item Norm variants ask for it."""
    return item_embed(self.spec, item_params, ids, training)

  def loss(self, params, windows, lengths, tables: dict, focal_gamma: float):
    """Every-prefix loss of a batch of windows [B, L] (see the module function `window_loss`)."""
    return window_loss(self.spec, params, windows, lengths, tables, focal_gamma)

  def packed_loss(self, params, rows: dict, tables: dict, focal_gamma: float):
    """Loss of packed rows (see the module function `packed_loss`)."""
    return packed_loss(self.spec, params, rows, tables, focal_gamma)

  def epoch_permutation(self, key):
    """Shuffled window order for an epoch (train.shuffle; else the data's order, user by user),
    padded with the padding window to whole batches.

    With packing: the epoch's packed rows instead ({"tokens", "segments", "positions"},
    [steps_per_epoch * batch_size, max_len - 2] each), packed in the shuffled order.
    """
    w = self.splits.num_windows
    if self.cfg.train.shuffle:
      perm = jax.random.permutation(key, w).astype(jnp.int32)
    else:
      perm = jnp.arange(w, dtype=jnp.int32)
    if self.packed:
      return self._pack(self.windows, self.seg_len, perm)
    pad = self.steps_per_epoch * self.batch_size - w
    return jnp.concatenate([perm, jnp.full((pad,), w, jnp.int32)])

  def _train_args(self, state, perm, start, num_steps, tables: LossTables | dict, train_item,
                  focal_gamma, schedule: Schedule | None, phase_step: int, dropout=None):
    """(args, kwargs) of the jitted training call (tables: LossTables, or device_tables' dict;
    schedule None: the state's learning rate, constant; dropout: the phase's `dropout_key`,
    None: that of phase 0 of a run at cfg.seed, where the model has dropout)."""
    if schedule is None:
      schedule = Schedule(peak=float(state["opt_state"].hyperparams["learning_rate"]))
    tab = tables if isinstance(tables, dict) else self.device_tables(tables)
    perm = self._replicate(perm)
    data = {"windows": self.windows, "lengths": self.lengths}   # arguments, not constants:
    sched = self._replicate(schedule.arrays())
    args = (state, data, perm, jnp.int32(start),                    # the compiled code is reused
            jnp.int32(num_steps), tab, jnp.bool_(train_item),       # across datasets (cache)
            sched, jnp.int32(phase_step))
    if self.spec.dropout:
      if dropout is None:
        dropout = self.dropout_key(jax.random.key(self.cfg.seed), 0)
      args = (*args, self._replicate(dropout))
    spec = self.spec
    if self.window_targets is not None:
      spec = dataclasses.replace(spec, target_capacity=epoch_capacity(
          self.window_targets, perm, self.batch_size,
          self.batch_size * (spec.max_len - 1 - spec.held_out)))
    return args, {"spec": spec, "focal_gamma": float(focal_gamma)}

  def dropout_key(self, run_key, phase_id: int):
    """`dropout_key` of the phase where the model has dropout, else None."""
    return dropout_key(run_key, phase_id) if self.spec.dropout else None

  def train_steps(self, state, perm, start: int, num_steps: int, tables: LossTables | dict,
                  train_item: bool = True, focal_gamma: float = 0.0,
                  schedule: Schedule | None = None, phase_step: int = 0, dropout=None):
    """Runs steps [start, start + num_steps) of the epoch given by perm; the learning rate of
    each is `schedule` at phase_step + (its index in this call). dropout: the phase's
    `dropout_key` (where the model has dropout; None: that of phase 0 of a run at cfg.seed)."""
    args, kwargs = self._train_args(state, perm, start, num_steps, tables, train_item,
                                    focal_gamma, schedule, phase_step, dropout)
    return train_call(*args, **kwargs)

  def train_steps_hlo(self, state, perm, tables: LossTables, train_item: bool = True,
                      focal_gamma: float = 0.0) -> str:
    """The compiled HLO text `train_steps` runs (profiling: names the ops of a trace)."""
    args, kwargs = self._train_args(state, perm, 0, 1, tables, train_item, focal_gamma,
                                    None, 0)
    return train_call.lower(*args, **kwargs).compile().as_text()

  # ----------------------------------------------------------------------------- evaluation
  def _item_emb_impl(self, item_params, training: bool):
    ids = jnp.arange(self.splits.num_items + 1, dtype=jnp.int32)
    return self.item_embed(item_params, ids, training)

  def item_embeddings(self, params, training: bool = False) -> jax.Array:
    """[N+1, d] item tower output for every id (row 0 = padding), as used for ranking."""
    return self._item_emb(params["item"], training=training)

  def _user_reps_impl(self, user_params, windows, idx, positions, *, block: int):
    """idx, positions: int32[Wp] (Wp a multiple of devices x block) -> z[Wp, M, d], split."""
    def one_block(ib, pb, params, windows):
      return self.user.apply({"params": params}, windows[ib][:, :-1], at=pb)  # [b, M, d]
    return sharding.map_blocks(one_block, self.mesh, block, (idx, positions),
                               (user_params, windows))

  def _eval_layout(self, n: int) -> tuple[int, int]:
    """(block, padded n): evaluation blocks of eval.block_users queries on every device."""
    return sharding.block_layout(n, self.cfg.eval.block_users, self.mesh)

  def _sharded_rows(self, x: np.ndarray, padded: int) -> jax.Array:
    """Host rows x[W, ...] padded to [padded, ...] and split over the mesh."""
    return sharding.shard_leading(sharding.pad_rows(np.asarray(x), padded), self.mesh)

  def user_reps(self, params, split: str) -> jax.Array:
    """[Q, M, d] user representation predicting each valid/test query's target (a window's, or
    a leave-one-out user's).

    One jitted call: blocks of eval.block_users queries under `lax.map`, the queries split
    over the mesh's devices where there are several.
    """
    positions = self.splits.eval_positions(split)
    w = positions.size
    block, padded = self._eval_layout(w)
    idx = self._sharded_rows(np.arange(w, dtype=np.int32), padded)
    pos = self._sharded_rows(positions.astype(np.int32), padded)
    return self._user_reps(params["user"], self.query_windows[split], idx, pos,
                           block=block)[:w]

  def _sampled_impl(self, z, cand, item_emb, *, block: int):
    """z[Wp, M, d], cand int32[Wp, 1 + K] (column 0 the target) -> int32[Wp] sampled ranks."""
    kind = self.cfg.model.affinity
    def one_block(zb, cb, emb):
      return metrics.sampled_ranks(affinity_lib.affinity_rows(zb, emb[cb], kind))
    return sharding.map_blocks(one_block, self.mesh, block, (z, cand), (item_emb,))

  def _sampled_ranks(self, z: jax.Array, item_emb: jax.Array, targets: np.ndarray,
                     user: np.ndarray) -> np.ndarray:
    """z[Q, M, d], item_emb[N+1, d] -> int32[Q] rank of each target among its user's sampled
    negatives."""
    w = targets.size
    block, padded = self._eval_layout(w)
    negs = self.splits.negatives[user]
    cand = np.concatenate([targets[:, None], negs], axis=1).astype(np.int32)
    zp = sharding.shard_leading(sharding.pad_rows(z, padded), self.mesh)
    item_emb = self._replicate(item_emb)
    return sharding.to_host(self._sampled(zp, self._sharded_rows(cand, padded), item_emb,
                                          block=block))[:w]

  def evaluate(self, params, split: str, primary_only: bool = False,
               return_ranks: bool = False) -> dict:
    """HR@K / NDCG@K, overall/head/tail, full corpus and (catalogue > 100) sampled; for the
    leave-one-out split also "full_no_history", the full-corpus ranking without the items the
    user had before the target (the target itself stays).

    primary_only skips the full-corpus rankings where the sampled protocol exists (used for
    per-epoch validation, where only the early-stopping metric is needed). return_ranks adds
    "ranks": {"full", "sampled"[, "full_no_history"]} (int[Q] per query, None where not
    computed), for paired tests between runs.
    """
    z = self.user_reps(params, split)
    item_emb = self.item_embeddings(params, training=False)
    queries = self.splits.queries(split)
    targets = queries.targets
    ks = tuple(self.cfg.eval.ks)
    out = {"full": None}
    ranks = {"full": None, "sampled": None}
    full = not (primary_only and self.splits.negatives is not None)
    if full:
      ranks["full"] = np.asarray(metrics.full_corpus_ranks(
          z, item_emb, targets, self._score_fn, block_q=self.cfg.eval.block_users,
          block_items=self.cfg.eval.block_items, mesh=self.mesh))
      out["full"] = metrics.split_metrics(ranks["full"], targets, self.splits.is_head, ks,
                                          self.splits.is_head_cluster)
    if queries.history is not None:
      out["full_no_history"] = ranks["full_no_history"] = None
      if full:
        ranks["full_no_history"] = np.asarray(metrics.full_corpus_ranks(
            z, item_emb, targets, self._score_fn, block_q=self.cfg.eval.block_users,
            block_items=self.cfg.eval.block_items, mesh=self.mesh, exclude=queries.history))
        out["full_no_history"] = metrics.split_metrics(
            ranks["full_no_history"], targets, self.splits.is_head, ks,
            self.splits.is_head_cluster)
    if self.splits.negatives is not None:
      ranks["sampled"] = self._sampled_ranks(z, item_emb, targets, queries.user)
      out["sampled"] = metrics.split_metrics(ranks["sampled"], targets, self.splits.is_head, ks,
                                             self.splits.is_head_cluster)
    else:
      out["sampled"] = None
    if return_ranks:
      out["ranks"] = ranks
    return out

  def primary(self, result: dict) -> dict:
    """The ranking the paper reports: sampled when available, else full corpus."""
    return result[metrics.primary_kind(result)]

  def validate(self, params) -> dict:
    """The reported ranking's validation metrics (overall, head, tail, ...), as an epoch's
    early stopping reads them."""
    return self.primary(self.evaluate(params, "valid", primary_only=True))

  def silhouette(self, params) -> float | None:
    if self.splits.clusters is None:
      return None
    emb = np.asarray(self.item_embeddings(params, training=False))[1:]
    return float(metrics.mean_silhouette(emb, self.splits.clusters[1:]))
