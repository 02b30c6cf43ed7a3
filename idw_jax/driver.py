"""The IDW state machine (Alg. 1): the one place that sequences training, sleeps and evaluation.

  PRETRAIN -> (SLEEP -> converged? -> WAKE)* -> CALIBRATE -> EVALUATE -> DONE

`next_phase` is the whole transition table; `Driver.run` is its loop: one step (a training
epoch, a sleep or the evaluation) at a time, each ending in a checkpoint of the whole state
(`idw_jax/checkpoints.py`), so `run()` on a workdir with checkpoints continues where it stopped
and ends with the same numbers as an uninterrupted run. Baselines run the same machine without
SLEEP / WAKE / CALIBRATE. What a run prints and writes is in `idw_jax/reporting.py`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from idw_jax import checkpoints
from idw_jax import config as config_lib
from idw_jax import density
from idw_jax import losses
from idw_jax import methods as methods_lib
from idw_jax import reporting
from idw_jax import sharding
from idw_jax import workdir as workdir_lib
from idw_jax.train import Schedule, Trainer

PRETRAIN, SLEEP, WAKE, CALIBRATE, EVALUATE, DONE = (
    "pretrain", "sleep", "wake", "calibrate", "evaluate", "done")
TRAIN_PHASES = (PRETRAIN, WAKE, CALIBRATE)


@dataclasses.dataclass
class RunState:
  """Where a run is, beside its arrays: checkpointed as JSON with them (`to_json` /
  `from_json`), so a resumed run continues from exactly here."""

  config: dict                       # the run's config (compared on resume)
  data: dict | None = None           # the size of the data it trains on (compared on resume:
                                     # the file behind data.path may change, its name not)
  phase: str = PRETRAIN
  idw_iter: int = 0                  # the IDW iteration t (sleep t precedes wake t + 1)
  epoch: int | None = 0              # epochs finished in this phase (None outside training)
  step: int = 0                      # steps finished in this epoch
  epochs_total: int = 0
  best_metric: float | None = None   # the phase's best validation score (early stopping)
  best_valid: dict | None = None     # that epoch's validation metrics (overall, primary kind)
  params_valid: dict | None = None   # the same for the parameters held now, when known: a
                                     # sleep reports them instead of validating again
  bad_epochs: int = 0
  loss_sum: float = 0.0              # this epoch's summed training loss and its steps
  loss_steps: int = 0
  phase_started: float = 0.0         # run seconds when this phase began
  elapsed: float = 0.0               # run seconds at the last save
  saves: int = 0
  history: list = dataclasses.field(default_factory=list)     # a row per epoch
  idw_trace: list = dataclasses.field(default_factory=list)   # a row per sleep
  phase_rows: list = dataclasses.field(default_factory=list)  # a row per phase
  save_log: list = dataclasses.field(default_factory=list)    # [save, event, phase, iter]
  results: dict | None = None        # test / valid metrics, set by EVALUATE
  pretrained_from: str | None = None  # the base run whose pretraining this run reused
  test_before_calibration: dict | None = None  # IDW: test metrics of the model the last wake
                                     # left, i.e. what the run scores with idw.calibrate=False

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, d: dict) -> "RunState":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


def next_phase(phase: str, *, is_idw: bool, stop: bool = False, calibrate: bool = True) -> str:
  """The phase after `phase` ends. stop: the sleep's stopping rule held (||dw|| < eta, or the
  last allowed iteration); calibrate: idw.calibrate."""
  if phase == PRETRAIN:
    return SLEEP if is_idw else EVALUATE
  if phase == SLEEP:
    return WAKE if not stop else (CALIBRATE if calibrate else EVALUATE)
  if phase == WAKE:
    return SLEEP
  if phase == CALIBRATE:
    return EVALUATE
  if phase == EVALUATE:
    return DONE
  raise ValueError(f"no phase follows {phase!r}")


class Driver:
  """Runs one method on one dataset split to the end, resuming from `workdir`."""

  def __init__(self, config, splits, workdir: str | os.PathLike, mesh=None, echo=None,
               data_summary: dict | None = None):
    self.cfg = config
    self.data_summary = data_summary or {}
    self.splits = splits
    self.workdir = Path(workdir)
    self.workdir.mkdir(parents=True, exist_ok=True)
    echo = echo or reporting.write_line   # prints around progress bars
    self.echo = echo if jax.process_index() == 0 else (lambda *a, **k: None)
    self.trainer = Trainer(config, splits, mesh)
    self.method = config.method
    self.spec = methods_lib.get(config.method)
    self.is_idw = self.spec.is_idw
    self.ckpt = checkpoints.RunCheckpoints(self.workdir, config.checkpoint.keep, self.echo)
    self.writer = reporting.MetricWriter(self.workdir / "tensorboard")
    self.table = reporting.PhaseTable(config.eval.early_stop_metric, self.echo)

  # ---------------------------------------------------------------------------- state i/o
  def _fresh_state(self):
    key = jax.random.key(self.cfg.seed)
    params = self.trainer.init_params(jax.random.fold_in(key, 0))
    lr = self.cfg.train.learning_rate
    arrays = {
        "params": params,
        "opt_state": self.trainer.init_opt_state(params, lr),
        "best_params": jax.tree.map(jnp.copy, params),
        "item_weight": sharding.replicate(np.asarray(self.splits.item_prob, np.float32),
                                          self.trainer.mesh),
        "rng": sharding.replicate(jax.random.key_data(key), self.trainer.mesh),
    }
    progress = RunState(config=self.cfg.to_dict(), data=self._data_size())
    return arrays, progress

  def _data_size(self) -> dict:
    s = self.splits
    return {"items": int(s.num_items), "windows": int(s.num_windows),
            "train_examples": int(s.num_train_examples)}

  def _save(self, arrays, progress, event: str):
    """Checkpoint `saves + 1`; event (epoch_end, mid_epoch, sleep, evaluate) goes to save_log.
    It is written in the background, overlapping the next epoch."""
    progress.saves += 1
    progress.save_log.append([progress.saves, event, progress.phase, progress.idw_iter])
    progress.elapsed = self._elapsed()
    self.ckpt.save(progress.saves, arrays, progress.to_json())
    self._debug_kill(progress.saves)

  def _debug_kill(self, save: int):
    """Tests of resume: debug.exit_after_save = k kills the process right after (or, with
    debug.exit_during_save, during) checkpoint k, as a crash would."""
    k = self.cfg.debug.exit_after_save
    if k > 0 and save == k:
      if not self.cfg.debug.exit_during_save:
        self.ckpt.wait()
      self.echo(f"[debug] exiting after checkpoint {k}", flush=True)
      os._exit(42)

  def _from_pretrained(self, source: str):
    """(arrays, progress) at the end of pretraining, from a finished run of the base method.

    An IDW method pretrains exactly as its base (mur for mur_idw) does for its whole run, so
    the base run's final state (evaluation changes no array) is this run's state after
    PRETRAIN, bit for bit. The base's pretraining epochs and seconds are carried over.
    """
    src, field = Path(source), "config.idw.pretrained_workdir"
    meta, load = checkpoints.read_finished_run(src, field)
    base_run = RunState.from_json(meta)
    base = self.spec.idw_base
    if base_run.config["method"] != base:
      raise ValueError(f"{field}: {src} is a {base_run.config['method']!r} run; {self.method} "
                       f"reuses the pretraining of {base!r}")
    if base_run.phase not in (EVALUATE, DONE):
      raise ValueError(f"{field}: {src} has not finished pretraining (phase {base_run.phase!r})")
    diff = workdir_lib.config_diff(base_run.config, self.cfg.to_dict(), ignore=("method", "idw"))
    if diff:
      raise ValueError(f"{field}: {src} has another config ({diff})")
    template, progress = self._fresh_state()
    if base_run.data is not None and base_run.data != progress.data:
      change = checkpoints.data_change(base_run.data, progress.data)
      raise ValueError(f"{field}: {src} was trained on other data ({change})")
    arrays = load(template)
    progress.history = [r for r in base_run.history if r["phase"] == PRETRAIN]
    progress.phase_rows = [r for r in base_run.phase_rows if r["phase"] == PRETRAIN]
    progress.elapsed = progress.phase_rows[-1]["seconds"]
    progress.epochs_total = len(progress.history)
    progress.params_valid = base_run.params_valid   # evaluation changed no parameter
    progress.pretrained_from = str(src)
    return arrays, progress

  def _elapsed(self):
    return self._elapsed0 + (time.time() - self._t0)

  # ------------------------------------------------------------------------------- phases
  def _phase_id(self, progress) -> int:
    return {PRETRAIN: 0, WAKE: 1 + progress.idw_iter, CALIBRATE: 100_000}[progress.phase]

  def _phase_settings(self, progress, arrays):
    """The phase's loss tables, learning rate, epoch budget, focal gamma and whether the item
    tower trains: from the method's row (idw_jax/methods.py) and the phase."""
    cfg, phase, m = self.cfg, progress.phase, self.spec
    lr = cfg.train.learning_rate
    if phase == PRETRAIN:
      weight = None
      if m.pretrain_weight == "uniform":
        weight = losses.uniform_item_weight(self.splits.item_prob)
      return dict(tables=self.trainer.tables(weight, m.margin), lr=lr, train_item=True,
                  max_epochs=cfg.train.max_epochs,
                  focal=cfg.loss.focal_gamma if m.focal else 0.0, **self._stopping(phase))
    if phase == WAKE:
      return dict(tables=self.trainer.tables(np.asarray(arrays["item_weight"]), m.margin),
                  lr=lr, train_item=True, max_epochs=cfg.idw.wake_max_epochs, focal=0.0,
                  **self._stopping(phase))
    return dict(tables=self.trainer.tables(None, m.margin),
                lr=lr * cfg.idw.calibration_lr_scale, train_item=False,
                max_epochs=cfg.idw.calibration_max_epochs, focal=0.0, **self._stopping(phase))

  def _stopping(self, phase: str) -> dict:
    """A training phase's early stopping (PRETRAIN, WAKE or CALIBRATE): patience and the
    (split, metric) it watches."""
    cfg = self.cfg
    overall = ("overall", cfg.eval.early_stop_metric)
    if phase == PRETRAIN:
      return dict(patience=cfg.train.patience, metric=overall)
    if phase == WAKE:
      return dict(patience=cfg.idw.wake_patience,
                  metric=config_lib.parse_split_metric(cfg.idw.wake_early_stop_metric) or overall)
    return dict(patience=cfg.idw.calibration_patience, metric=overall)

  def _budget(self, max_epochs: float) -> int:
    """A phase's step budget: max_epochs (may be fractional) epochs of steps, at least one."""
    return max(1, int(np.ceil(max_epochs * self.trainer.steps_per_epoch - 1e-9)))

  def _schedule(self, s: dict) -> Schedule:
    """The phase's learning-rate schedule (train.lr_schedule) over its step budget."""
    t = self.cfg.train
    if t.lr_schedule == "constant":
      return Schedule(peak=s["lr"])
    total = self._budget(s["max_epochs"])
    return Schedule(peak=s["lr"], total=total, warmup=int(round(t.warmup_fraction * total)),
                    final=t.final_lr_fraction)

  def _start_phase(self, arrays, progress, phase):
    progress.phase, progress.epoch, progress.step = phase, 0, 0
    progress.best_metric, progress.best_valid, progress.bad_epochs = None, None, 0
    progress.loss_sum, progress.loss_steps = 0.0, 0
    progress.phase_started = self._elapsed()
    if phase in TRAIN_PHASES:
      s = self._phase_settings(progress, arrays)
      if self.cfg.train.reset_optimizer or phase == CALIBRATE:
        arrays["opt_state"] = self.trainer.init_opt_state(arrays["params"], s["lr"])
      else:
        arrays["opt_state"].hyperparams["learning_rate"] = sharding.replicate(
            np.float32(s["lr"]), self.trainer.mesh)

  def _label(self, progress) -> str:
    return progress.phase if progress.phase != WAKE else f"wake {progress.idw_iter}"

  def _train_epoch(self, arrays, progress):
    """One epoch (or the last, partial one of a fractional budget), validation, early
    stopping, checkpoint. Its seconds are split into steps / valid / checkpoint / log / other."""
    t_start = time.perf_counter()
    s = self._phase_settings(progress, arrays)
    spe, budget = self.trainer.steps_per_epoch, self._budget(s["max_epochs"])
    total = min(spe, budget - progress.epoch * spe)
    t_steps, t_ckpt = self._epoch_steps(arrays, progress, s, total)
    last = (progress.epoch + 1) * spe >= budget
    valid, t_valid = None, 0.0
    if self._validates(progress, last):
      t0 = time.perf_counter()
      valid = self.trainer.primary(
          self.trainer.evaluate(arrays["params"], "valid", primary_only=True))
      t_valid = time.perf_counter() - t0
    rec, t_log = self._end_epoch(arrays, progress, s, valid, total, t_start)
    rec["timing"] = self._timing(t_start, t_steps, t_valid, t_ckpt, t_log)
    if progress.bad_epochs >= s["patience"] or last:
      progress.params_valid = None if valid is None else valid["overall"]
      if self.cfg.train.restore_best and valid is not None:   # else its one epoch is the best
        arrays["params"] = jax.tree.map(jnp.copy, arrays["best_params"])
        progress.params_valid = progress.best_valid
      self._end_train_phase(arrays, progress)
    t0 = time.perf_counter()
    self._save(arrays, progress, "epoch_end")
    # The checkpoint holds the timing without its own save; the run's history has it all.
    rec["timing"] = self._timing(t_start, t_steps, t_valid, t_ckpt + time.perf_counter() - t0,
                                 rec["timing"]["log"])

  def _epoch_steps(self, arrays, progress, s: dict, total: int) -> tuple[float, float]:
    """The epoch's remaining steps, in jitted calls of train.steps_per_call (a mid-epoch
    checkpoint every checkpoint.every_steps); stops at a non-finite loss. Returns the seconds
    of steps and of checkpoints."""
    cfg, tr = self.cfg, self.trainer
    spe = tr.steps_per_epoch
    sched = self._schedule(s)
    key = jax.random.wrap_key_data(arrays["rng"])
    key = jax.random.fold_in(jax.random.fold_in(key, 1 + self._phase_id(progress)), progress.epoch)
    perm = tr.epoch_permutation(key)
    state = {"params": arrays["params"], "opt_state": arrays["opt_state"]}
    label = self._label(progress)
    progress.params_valid = None                  # the steps change the parameters
    bar = reporting.progress(total, progress.step, f"{label} epoch {progress.epoch + 1}")
    every = cfg.checkpoint.every_steps
    t_steps = t_ckpt = 0.0
    while progress.step < total:
      n = min(cfg.train.steps_per_call, total - progress.step)
      t0 = time.perf_counter()
      state, out = tr.train_steps(state, perm, progress.step, n, s["tables"], s["train_item"],
                                  s["focal"], sched, progress.epoch * spe + progress.step)
      loss_sum = float(out["loss_sum"])   # waits for the call: its time is the steps'
      t_steps += time.perf_counter() - t0
      progress.loss_sum += loss_sum
      progress.loss_steps += int(out["steps"])
      if not np.isfinite(loss_sum):
        raise FloatingPointError(
            f"training diverged: non-finite loss in phase {label}, epoch {progress.epoch + 1}, "
            f"steps {progress.step}-{progress.step + n} (learning rate peak {s['lr']:g}, "
            f"schedule {cfg.train.lr_schedule}); no results were written")
      before, progress.step = progress.step, progress.step + n
      if bar is not None:
        bar.update(n)
        bar.set_postfix(loss=f"{progress.loss_sum / max(progress.loss_steps, 1):.4f}")
      arrays["params"], arrays["opt_state"] = state["params"], state["opt_state"]
      if every and progress.step < total and (progress.step // every) > (before // every):
        t0 = time.perf_counter()
        self._save(arrays, progress, "mid_epoch")
        t_ckpt += time.perf_counter() - t0
    if bar is not None:
      bar.close()
    return t_steps, t_ckpt

  def _end_epoch(self, arrays, progress, s: dict, valid: dict, total: int, t_start
                 ) -> tuple[dict, float]:
    """Early-stopping bookkeeping on the validation metrics `valid` (None: an epoch that
    train.valid_every skips), the epoch's log line and TensorBoard scalars; appends the epoch's
    history row and returns it with the seconds the logging took."""
    split, metric = s["metric"]
    train_loss = progress.loss_sum / max(progress.loss_steps, 1)
    val, improved = None, False
    if valid is not None:
      val, score = valid["overall"], valid[split][metric]
      improved = progress.best_metric is None or score > progress.best_metric
      if improved:
        progress.best_metric, progress.bad_epochs, progress.best_valid = score, 0, val
        arrays["best_params"] = jax.tree.map(jnp.copy, arrays["params"])
      else:   # patience counts epochs: those since the last validation
        progress.bad_epochs += self._epochs_since_validation(progress)
    progress.epoch += 1
    progress.epochs_total += 1
    progress.step, progress.loss_sum, progress.loss_steps = 0, 0.0, 0
    t0 = time.perf_counter()
    self.writer.scalars(progress.epochs_total, {
        "train/loss": train_loss,
        **{f"valid/{k}": v for k, v in (val or {}).items() if k != "count"}})
    seen = ("not validated" if val is None else
            f"valid {'' if split == 'overall' else split + ' '}{metric} {score:.2f}"
            f"{' *' if improved else ''}")
    self.echo(f"  {self._label(progress)} epoch {progress.epoch}: {total} steps, loss "
              f"{train_loss:.4f}, {seen}, {time.perf_counter() - t_start:.1f} s", flush=True)
    rec = {"phase": progress.phase, "idw_iter": progress.idw_iter, "epoch": progress.epoch,
           "steps": total, "train_loss": train_loss, "valid": val, "seconds": self._elapsed()}
    progress.history.append(rec)
    return rec, time.perf_counter() - t0

  def _validates(self, progress, last: bool) -> bool:
    """Whether this epoch is validated: every train.valid_every-th of a phase and its last,
    except in a wake phase under idw.validate_wakes=False (one epoch at most, by config)."""
    if progress.phase == WAKE and not self.cfg.idw.validate_wakes:
      return False
    return last or (progress.epoch + 1) % self.cfg.train.valid_every == 0

  def _epochs_since_validation(self, progress) -> int:
    """Epochs of this phase since its last validated one, this one included: train.valid_every
    validates epochs k, 2k, ... (1-based) and the last of the budget."""
    k, e = self.cfg.train.valid_every, progress.epoch + 1
    return e - (e - 1) // k * k

  @staticmethod
  def _timing(t_start, steps, valid, ckpt, log) -> dict:
    """An epoch's wall seconds split into steps, validation, checkpoint, log and the rest."""
    total = time.perf_counter() - t_start
    return {"total": total, "steps": steps, "valid": valid, "checkpoint": ckpt, "log": log,
            "other": total - steps - valid - ckpt - log}

  def _phase_row(self, progress, name, extra=None):
    row = {"phase": name, "epochs": progress.epoch, "best_valid": progress.best_metric,
           "seconds": self._elapsed() - progress.phase_started, **(extra or {})}
    if progress.phase in TRAIN_PHASES:   # the phase's epochs' timing, summed
      epochs = [r for r in progress.history
                if r["phase"] == progress.phase and r["idw_iter"] == progress.idw_iter]
      row["steps"] = sum(r.get("steps", 0) for r in epochs)
      row["timing"] = {k: sum(r["timing"][k] for r in epochs if "timing" in r)
                       for k in ("steps", "valid", "checkpoint", "log", "other")}
    progress.phase_rows.append(row)
    self.table.row(row)

  def _end_train_phase(self, arrays, progress):
    split, metric = self._stopping(progress.phase)["metric"]
    other = (split, metric) != ("overall", self.cfg.eval.early_stop_metric)
    self._phase_row(progress, self._label(progress),   # best_valid: the phase's own metric
                    {"metric": f"{split}/{metric}"} if other else None)
    self._start_phase(arrays, progress, next_phase(progress.phase, is_idw=self.is_idw))

  def _sleep(self, arrays, progress):
    cfg, tr = self.cfg, self.trainer
    t = progress.idw_iter
    clock = time.perf_counter()
    emb = tr.item_embeddings(arrays["params"], training=False)[1:]
    w = arrays["item_weight"][1:]
    key = jax.random.fold_in(jax.random.wrap_key_data(arrays["rng"]), 10_000 + t)
    w_new, info = density.sleep_update(
        emb, w, cfg.idw.momentum, weighting=cfg.idw.weighting,
        sample_size=cfg.idw.kde_sample_size, noise_std=cfg.idw.kde_noise_std, key=key,
        covariance=cfg.idw.kde_covariance,
        support=self.splits.item_prob[1:] > 0 if cfg.idw.weight_support == "targets" else None,
        block_q=cfg.idw.kde_block or None, block_n=cfg.idw.kde_block or None,
        impl=cfg.idw.kde_impl)
    change = float(density.weight_change(w_new, w, norm=cfg.idw.stopping_norm))
    if not np.isfinite(change):
      raise FloatingPointError(f"IDW sleep {t}: non-finite item weights (the item embeddings "
                               "hold NaN or inf, or, with idw.kde_covariance=full, the kernel "
                               "covariance is singular); no results were written")
    timing = {"kde": time.perf_counter() - clock}
    clock = time.perf_counter()
    sil = tr.silhouette(arrays["params"])
    timing["silhouette"], clock = time.perf_counter() - clock, time.perf_counter()
    val = progress.params_valid   # known when the last training phase ended (bit-identical)
    if val is None and (t == 0 or cfg.idw.validate_wakes):   # else it stays None: wake t was
      #                                                          not validated, by config
      val = tr.primary(tr.evaluate(arrays["params"], "valid", primary_only=True))["overall"]
    timing["valid"], clock = time.perf_counter() - clock, time.perf_counter()
    self._save_embeddings(arrays["params"], f"sleep{t}", w)
    timing["embeddings"] = time.perf_counter() - clock
    converged = change < cfg.idw.eta
    stop = converged or t >= cfg.idw.max_iterations
    if stop and cfg.idw.calibrate:   # the same run without calibration would evaluate these
      #                                parameters: score them on test too (calibration's pair)
      clock = time.perf_counter()
      test = tr.evaluate(arrays["params"], "test", return_ranks=True)
      self._save_ranks(test.pop("ranks"), "test_ranks_before_calibration.npz")
      progress.test_before_calibration = test
      timing["test_before_calibration"] = time.perf_counter() - clock
    progress.idw_trace.append({
        "iteration": t, "weight_change": change, "silhouette": sil, "valid": val,
        "bandwidth": float(info.get("bandwidth", np.nan)), "seconds": self._elapsed(),
        "converged": bool(converged)})
    self.writer.scalars(t, {"idw/weight_change": change, "idw/silhouette": sil,
                            **{f"idw/valid_{k}": v for k, v in (val or {}).items()
                               if k != "count"}})
    progress.epoch = None
    self._phase_row(progress, f"sleep {t}", {
        "weight_change": change, "silhouette": sil, "timing": timing,
        "best_valid": None if val is None else val[cfg.eval.early_stop_metric]})
    if not stop:
      arrays["item_weight"] = arrays["item_weight"].at[1:].set(w_new)
      progress.idw_iter = t + 1
    self._start_phase(arrays, progress, next_phase(SLEEP, is_idw=True, stop=stop,
                                               calibrate=cfg.idw.calibrate))
    self._save(arrays, progress, "sleep")

  def _save_embeddings(self, params, name: str, weights):
    """Item embeddings (and IDW weights) for the figures: embeddings/<name>.npz, rows = ids 1..N."""
    if jax.process_index() != 0:
      return
    folder = self.workdir / "embeddings"
    folder.mkdir(exist_ok=True)
    emb = np.asarray(self.trainer.item_embeddings(params, training=False))[1:]
    extra = {} if self.splits.clusters is None else {"clusters": self.splits.clusters[1:]}
    np.savez(folder / f"{name}.npz", item_emb=emb, item_weight=np.asarray(weights),
             train_counts=self.splits.train_counts[1:], **extra)

  def _save_ranks(self, ranks: dict, name: str = "test_ranks.npz"):
    """Test ranks per window (0-based; sampled and full corpus) in <workdir>/<name>, for paired
    comparisons of runs (idw_jax.experiments.significance)."""
    if jax.process_index() != 0:
      return
    def small(r):   # the narrowest unsigned type that holds every rank
      return r.astype(np.uint16 if r.max(initial=0) < 2 ** 16 else np.uint32)
    np.savez_compressed(self.workdir / name,
                        **{k: small(np.asarray(v)) for k, v in ranks.items() if v is not None})

  def _evaluate(self, arrays, progress):
    tr = self.trainer
    params = arrays["params"]
    clock = time.perf_counter()
    test = tr.evaluate(params, "test", return_ranks=True)
    self._save_ranks(test.pop("ranks"))
    timing = {"test": time.perf_counter() - clock}
    clock = time.perf_counter()
    valid = tr.evaluate(params, "valid")
    timing["valid"] = time.perf_counter() - clock
    # NaN scores rank last rather than propagate, so check the parameters, then the metrics.
    bad = [jax.tree_util.keystr(path) for path, x in jax.tree_util.tree_leaves_with_path(params)
           if not bool(jnp.all(jnp.isfinite(x)))]
    bad += [f"{split}/{kind}/overall/{k}" for split, r in (("test", test), ("valid", valid))
            for kind, block in r.items() if block
            for k, v in block["overall"].items() if not np.isfinite(v)]
    if bad:
      raise FloatingPointError(f"non-finite parameters or metrics at evaluation "
                               f"({', '.join(bad[:4])}); no results were written")
    progress.results = {"test": test, "valid": valid, "silhouette": tr.silhouette(params)}
    self._save_embeddings(params, "final", arrays["item_weight"][1:])
    progress.epoch = None
    self._phase_row(progress, "evaluate", {"timing": timing})
    progress.phase = next_phase(EVALUATE, is_idw=self.is_idw)
    self._save(arrays, progress, "evaluate")

  # --------------------------------------------------------------------------------- run
  def run(self) -> dict:
    lock = workdir_lib.lock(self.workdir) if jax.process_index() == 0 else None
    try:
      return self._run()
    finally:
      if lock is not None:
        lock.close()

  def _run(self) -> dict:
    self._t0 = time.time()
    restored = self.ckpt.restore(self._fresh_state()[0], self.cfg.to_dict(), self._data_size())
    if restored is None and self.is_idw and self.cfg.idw.pretrained_workdir:
      arrays, progress = self._from_pretrained(self.cfg.idw.pretrained_workdir)
      self._elapsed0 = progress.elapsed
      self.echo(f"{self.method} on {self.cfg.data.name}: pretraining reused from "
                f"{progress.pretrained_from} ({progress.epochs_total} epochs), workdir "
                f"{self.workdir}", flush=True)
      for row in progress.phase_rows:
        self.table.row(row)
      self._start_phase(arrays, progress, SLEEP)
      self._save(arrays, progress, "pretrained")
    elif restored is None:
      arrays, progress = self._fresh_state()
      self._elapsed0 = 0.0
      progress.phase_started = 0.0
      self.echo(f"{self.method} on {self.cfg.data.name}: {self.splits.num_windows} windows, "
                f"{self.trainer.steps_per_epoch} steps/epoch, workdir {self.workdir}", flush=True)
    else:
      arrays, progress = restored[0], RunState.from_json(restored[1])
      progress.data = progress.data or self._data_size()   # checkpoints from before RunState.data
      self._elapsed0 = progress.elapsed
      self.echo(f"resuming {self.workdir} at phase {progress.phase} (IDW iteration "
                f"{progress.idw_iter}, epoch {progress.epoch}, step {progress.step})", flush=True)
      for row in progress.phase_rows:
        self.table.row(row)
    step = {PRETRAIN: self._train_epoch, WAKE: self._train_epoch,
            CALIBRATE: self._train_epoch, SLEEP: self._sleep, EVALUATE: self._evaluate}
    while progress.phase != DONE:
      step[progress.phase](arrays, progress)   # each ends in a checkpoint
    self.ckpt.wait()
    self.writer.close()
    results = reporting.results(self.cfg, progress, {**self.splits.report, **self.data_summary},
                                self.trainer.mesh)
    if jax.process_index() == 0:
      tmp = self.workdir / "results.json.tmp"
      tmp.write_text(json.dumps(results, indent=1, default=str))
      tmp.replace(self.workdir / "results.json")
    return results


def load_data(cfg, workdir: Path):
  """(splits, dataset summary) of the run's data config; real data goes through TFDS under
  data.tfds_dir (default: a tfds/ folder beside the workdir, shared by a grid's runs)."""
  from idw_jax.data import pipeline, summary
  tfds_dir = cfg.data.tfds_dir or str(Path(workdir).parent / "tfds")
  seqs = pipeline.load_sequences(cfg.data, tfds_dir)
  splits = pipeline.make_splits(cfg.data, seqs)
  info = summary.summarize(seqs, cfg.data.name, windows=splits.num_windows)
  info["report"].update({f"protocol.{k}": v for k, v in splits.report.items()})
  return splits, info


def run(cfg, workdir, data=None) -> dict:
  """One run, as launch.py and the grid make it: the data (or `data` = load_data's result),
  its summary, the Driver over all devices, the test table. Returns results.json's dict."""
  from idw_jax.data import summary
  workdir = Path(workdir)
  splits, info = data if data is not None else load_data(cfg, workdir)
  if jax.process_index() == 0:
    print(summary.format_summary(info), flush=True)
  results = Driver(cfg, splits, workdir, mesh=sharding.data_mesh(), data_summary=info).run()
  if jax.process_index() == 0:
    print(reporting.results_table(results), flush=True)
  return results
