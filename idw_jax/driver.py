"""The IDW state machine (Alg. 1): the one place that sequences training, sleeps and evaluation.

  PRETRAIN -> (SLEEP -> converged? -> WAKE)* -> CALIBRATE -> EVALUATE -> DONE

`next_phase` is the whole transition table and `Driver._loop` its loop: a handler per phase
takes the state (idw_jax/run_state.py) and returns `(state, next phase)` after one step (a
training epoch, a sleep or the evaluation); each step ends in a checkpoint of the whole state
(idw_jax/checkpoints.py), so `run()` on a workdir with checkpoints continues where it stopped
and ends with the same numbers as an uninterrupted run. Baselines run the same machine without
SLEEP / WAKE / CALIBRATE. Logs, TensorBoard and the phase table are observers
(idw_jax/observers.py); results.json is written by idw_jax/reporting.py.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import jax

from idw_jax import checkpoints
from idw_jax import clock
from idw_jax import epochs
from idw_jax import methods as methods_lib
from idw_jax import observers as observers_lib
from idw_jax import phases
from idw_jax import reporting
from idw_jax import sharding
from idw_jax import sleep
from idw_jax import workdir as workdir_lib
from idw_jax.data import fingerprint as fingerprints
from idw_jax.run_data import load_data   # driver.load_data: the grid's too
from idw_jax.run_state import (CALIBRATE, DONE, EVALUATE, PRETRAIN, SLEEP, TRAIN_PHASES, WAKE,
                               RunState, State)
from idw_jax.train import Trainer, with_learning_rate

# The event (in save_log) of the checkpoint that ends a step of each phase.
SAVE_EVENT = {PRETRAIN: "epoch_end", WAKE: "epoch_end", CALIBRATE: "epoch_end",
              SLEEP: "sleep", EVALUATE: "evaluate"}


def next_phase(phase: str, *, is_idw: bool, stop: bool = False, calibrate: bool = True) -> str:
  """The phase after `phase` ends. stop: the sleep's stopping rule held (||dw|| < eta, or the
  last allowed iteration); calibrate: idw.calibrate."""
  after = {PRETRAIN: SLEEP if is_idw else EVALUATE,
           SLEEP: WAKE if not stop else (CALIBRATE if calibrate else EVALUATE),
           WAKE: SLEEP, CALIBRATE: EVALUATE, EVALUATE: DONE}
  if phase not in after:
    raise ValueError(f"no phase follows {phase!r}")
  return after[phase]


class Driver:
  """Runs one method on one dataset split to the end, resuming from `workdir`; `observers`
  (observers.Observer) see its events besides the log lines, phase table and TensorBoard."""

  def __init__(self, config, splits, workdir: str | os.PathLike, mesh=None, echo=None,
               data_summary: dict | None = None, observers=()):
    self.cfg, self.splits, self.data_summary = config, splits, data_summary or {}
    self.fingerprint = fingerprints.of_data(config.data)   # the run's data identity
    self.workdir = Path(workdir)
    self.workdir.mkdir(parents=True, exist_ok=True)
    echo = echo or reporting.write_line   # prints around progress bars
    self.echo = echo if jax.process_index() == 0 else (lambda *a, **k: None)
    self.trainer = Trainer(config, splits, mesh)
    self.method = methods_lib.get(config.method)
    self.ckpt = checkpoints.RunCheckpoints(self.workdir, config.checkpoint.keep, self.echo)
    self.observers = observers_lib.Observers(observers_lib.standard(
        self.echo, config, self.workdir, splits.num_windows, self.trainer.steps_per_epoch)
        + list(observers))

  def run(self) -> dict:
    """Runs (or resumes) to the end; writes and returns results.json's dict."""
    main = jax.process_index() == 0
    with workdir_lib.lock(self.workdir) if main else contextlib.nullcontext():
      self.clock = clock.RunClock()
      state = self._loop(self._start())
      self.ckpt.wait()
      self.observers.run_done()
      results = reporting.results(self.cfg, self._run_state(state), {
          **self.splits.report, **self.data_summary}, self.trainer.mesh)
      if main:
        reporting.write_results(self.workdir, results)
      return results

  def _loop(self, state: State) -> State:
    """Alg. 1: the phase's handler, the next phase, a checkpoint; until DONE."""
    handlers = {PRETRAIN: self._train_epoch, WAKE: self._train_epoch,
                CALIBRATE: self._train_epoch, SLEEP: self._sleep, EVALUATE: self._evaluate}
    while state.cursor.phase != DONE:
      phase, watch = state.cursor.phase, clock.Stopwatch()
      state, after = handlers[phase](state, watch)
      if after != phase:
        state = self._enter(state, after)
      with watch("checkpoint"):
        state = self._save(state, SAVE_EVENT[phase])
      if phase in TRAIN_PHASES:   # the epoch's row with its own checkpoint's seconds (the
        state = state.replace(log=state.log.amend_last(   # checkpoint holds it without them)
            "history", timing=watch.split(*epochs.TIMING)))
    return state

  def _start(self) -> State:
    """The latest checkpoint's state; else, for an IDW run with idw.pretrained_workdir, the
    end of that run's pretraining; else a fresh one. A run that starts keeps its vocabulary."""
    how, arrays, run = checkpoints.start(
        self.ckpt, self.cfg, self.trainer.init_run_arrays(self.cfg.seed),
        checkpoints.data_size(self.splits), self.method.idw_base, self.fingerprint)
    reporting.save_vocabulary(self.workdir, self.splits, self.fingerprint, how != "resumed")
    self.clock.before = run.cursor.elapsed
    state = State(arrays, run.cursor, run.log)
    self.observers.run_started(how, state)
    if how == "pretrained":
      return self._save(self._enter(state, SLEEP), "pretrained")
    state = self._with_plan(state)
    if how == "fresh":
      self.observers.phase_started(state)
    return state

  def _run_state(self, state: State) -> RunState:
    return RunState(self.cfg.to_dict(), checkpoints.data_size(self.splits), state.cursor,
                    state.log, self.fingerprint)

  def _save(self, state: State, event: str) -> State:
    """Checkpoint `saves + 1` (event: epoch_end, mid_epoch, sleep, evaluate, pretrained, in
    save_log), written in the background while the run goes on."""
    c = state.cursor.replace(saves=state.cursor.saves + 1, elapsed=self.clock())
    state = state.replace(cursor=c, log=state.log.add(save_log=[c.saves, event, c.phase,
                                                                c.idw_iter]))
    self.ckpt.save(c.saves, state.arrays, self._run_state(state).to_json())
    self.observers.saved(c.saves, self.ckpt)
    return state

  def _with_plan(self, state: State) -> State:
    """state with its training phase's plan (loss tables on device etc.; None otherwise)."""
    phase = state.cursor.phase
    return state.replace(plan=phases.make(self.cfg, self.trainer, phase,
                                          state.arrays["item_weight"])
                         if phase in TRAIN_PHASES else None)

  def _enter(self, state: State, phase: str) -> State:
    """The state at the start of `phase`: a training phase gets its plan and its learning rate
    (a new optimizer state for calibration, or every phase with train.reset_optimizer)."""
    state = self._with_plan(state.replace(cursor=state.cursor.start(phase, self.clock())))
    if phase in TRAIN_PHASES:
      params, opt, lr = state.arrays["params"], state.arrays["opt_state"], state.plan.lr
      opt = (self.trainer.init_opt_state(params, lr)
             if self.cfg.train.reset_optimizer or phase == CALIBRATE
             else with_learning_rate(opt, lr, self.trainer.mesh))
      state = state.replace(arrays={**state.arrays, "opt_state": opt})
    self.observers.phase_started(state)
    return state

  def _phase_done(self, state: State, name: str, extra: dict | None = None) -> State:
    row = reporting.phase_row(state.cursor, state.log.history, name,
                              self.clock() - state.cursor.phase_started, extra)
    self.observers.phase_done(row)
    return state.replace(log=state.log.add(phase_rows=row))

  def _train_epoch(self, state: State, watch) -> tuple[State, str]:
    """An epoch of a training phase (its rest, on resume), validated where due; the phase ends
    when its patience or its step budget runs out."""
    plan, c = state.plan, state.cursor
    total, last = epochs.epoch_steps(plan.budget, c.epoch, self.trainer.steps_per_epoch)
    state = epochs.train_steps(self.trainer, self.cfg, state, total, watch, self.observers,
                               save=lambda s: self._save(s, "mid_epoch"))
    valid = None
    if epochs.validates(self.cfg, state.cursor, last):
      with watch("valid"):
        valid = self.trainer.validate(state.arrays["params"])
    state, row, score, improved = epochs.end_epoch(state, valid, total,
                                                   self.cfg.train.valid_every, self.clock())
    c = state.cursor
    with watch("log"):
      self.observers.epoch_done(c, row, metric=plan.metric, score=score, improved=improved,
                                seconds=watch.total())
    state = state.replace(log=state.log.add(history={**row, "timing": watch.split(
        *epochs.TIMING)}))
    if c.bad_epochs < plan.patience and not last:
      return state, c.phase
    state = epochs.keep_params(state, valid, self.cfg.train.restore_best)
    note = reporting.metric_note(plan.metric, self.cfg.eval.early_stop_metric)
    return self._phase_done(state, c.label, note), next_phase(c.phase, is_idw=self.method.is_idw)

  def _sleep(self, state: State, watch) -> tuple[State, str]:
    """Sleep t: new item weights from the density of the item embeddings, the stopping rule,
    and the scores of the parameters the last training phase left."""
    cfg, tr, c, arrays = self.cfg, self.trainer, state.cursor, state.arrays
    t, w, log = c.idw_iter, arrays["item_weight"][1:], state.log
    with watch("kde"):
      emb = tr.item_embeddings(arrays["params"], training=False)[1:]
      w_new, change, bandwidth = sleep.new_weights(cfg.idw, emb, w, arrays["rng"], t,
                                                   self.splits.item_prob)
    with watch("silhouette"):
      sil = tr.silhouette(arrays["params"])
    with watch("valid"):   # known when the last training phase ended (bit-identical), or not
      val = c.params_valid   # validated: wake t under idw.validate_wakes=False
      if val is None and (t == 0 or cfg.idw.validate_wakes):
        val = tr.validate(arrays["params"])["overall"]
    with watch("embeddings"):
      reporting.save_embeddings(self.workdir, tr, arrays["params"], f"sleep{t}", w)
    converged = change < cfg.idw.eta
    stop = converged or t >= cfg.idw.max_iterations
    if stop and cfg.idw.calibrate:   # the same run without calibration would evaluate these
      with watch("test_before_calibration"):   # parameters: calibration's pair
        log = log.replace(test_before_calibration=reporting.test_metrics(
            tr, self.workdir, arrays["params"], "test_ranks_before_calibration.npz"))
    trace = {"iteration": t, "weight_change": change, "silhouette": sil, "valid": val,
             "bandwidth": bandwidth, "seconds": self.clock(), "converged": bool(converged)}
    self.observers.sleep_done(trace)
    state = self._phase_done(state.replace(log=log.add(idw_trace=trace)), f"sleep {t}", {
        "weight_change": change, "silhouette": sil, "timing": dict(watch.parts),
        "best_valid": None if val is None else val[cfg.eval.early_stop_metric]})
    if not stop:   # wake t + 1 trains with the new weights
      state = state.replace(arrays={**arrays, "item_weight": arrays["item_weight"].at[1:].set(
          w_new)}, cursor=state.cursor.replace(idw_iter=t + 1))
    return state, next_phase(SLEEP, is_idw=True, stop=stop, calibrate=cfg.idw.calibrate)

  def _evaluate(self, state: State, watch) -> tuple[State, str]:
    """The final test and validation metrics of the parameters the run ended with."""
    params = state.arrays["params"]
    with watch("test"):
      test = reporting.test_metrics(self.trainer, self.workdir, params, "test_ranks.npz")
    with watch("valid"):
      valid = self.trainer.evaluate(params, "valid")
    reporting.check_finite(params, {"test": test, "valid": valid})
    results = {"test": test, "valid": valid, "silhouette": self.trainer.silhouette(params)}
    reporting.save_embeddings(self.workdir, self.trainer, params, "final",
                              state.arrays["item_weight"][1:])
    state = state.replace(log=state.log.replace(results=results))
    self.observers.evaluated(state.cursor, results)
    return self._phase_done(state, "evaluate", {"timing": dict(watch.parts)}), DONE


def run(cfg, workdir, data=None) -> dict:
  """One run, as launch.py and the grid make it: the data (or `data` = load_data's result),
  its summary, the Driver over all devices, the test table. Returns results.json's dict."""
  from idw_jax.data import summary
  splits, info = data if data is not None else load_data(cfg, workdir)
  if jax.process_index() == 0:
    print(summary.format_summary(info), flush=True)
  extra = [checkpoints.ExitAfterSave(cfg.debug)] if cfg.debug.exit_after_save > 0 else []
  results = Driver(cfg, splits, workdir, mesh=sharding.data_mesh(), data_summary=info,
                   observers=extra).run()
  if jax.process_index() == 0:
    print(reporting.results_table(results), flush=True)
  return results
