"""A training epoch of the driver: its steps in jitted calls, and the rules of validation and
early stopping. State goes in, state comes out (idw_jax/run_state.py)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from idw_jax.run_state import WAKE, Cursor, State

# The parts of an epoch's seconds in its history row ("timing"; the rest is "other").
TIMING = ("steps", "valid", "checkpoint", "log")


def epoch_steps(budget: int, epoch: int, steps_per_epoch: int) -> tuple[int, bool]:
  """(steps, last): the steps of epoch `epoch` (0-based) of a phase of `budget` steps, and
  whether it is the phase's last (it may be partial)."""
  return (min(steps_per_epoch, budget - epoch * steps_per_epoch),
          (epoch + 1) * steps_per_epoch >= budget)


def validates(cfg, cursor: Cursor, last: bool) -> bool:
  """Whether this epoch is validated: every train.valid_every-th of a phase and its last,
  except in a wake phase under idw.validate_wakes=False (one epoch at most, by config)."""
  if cursor.phase == WAKE and not cfg.idw.validate_wakes:
    return False
  return last or (cursor.epoch + 1) % cfg.train.valid_every == 0


def epochs_since_validation(valid_every: int, epoch: int) -> int:
  """Epochs of a phase since its last validated one, epoch `epoch` (0-based) included:
  train.valid_every = k validates epochs k, 2k, ... (1-based) and the last of the budget."""
  e = epoch + 1
  return e - (e - 1) // valid_every * valid_every


def end_epoch(state: State, valid: dict | None, total: int, valid_every: int, now: float):
  """(state, history row, score, improved) after an epoch of `total` steps: early stopping on
  the validation metrics `valid` (the primary ranking's splits; None: not validated) of the
  plan's watched (split, metric), the best parameters kept, the epoch counted and its step and
  loss sums reset. The row (results.json "history") gets its "timing" from the driver."""
  c, (split, name), arrays = state.cursor, state.plan.metric, state.arrays
  row = {"phase": c.phase, "idw_iter": c.idw_iter, "epoch": c.epoch + 1, "steps": total,
         "train_loss": c.loss_sum / max(c.loss_steps, 1),
         "valid": None if valid is None else valid["overall"], "seconds": now}
  score, improved = None, False
  if valid is not None:
    score = valid[split][name]
    improved = c.best_metric is None or score > c.best_metric
    if improved:
      c = c.replace(best_metric=score, bad_epochs=0, best_valid=valid["overall"])
      arrays = {**arrays, "best_params": jax.tree.map(jnp.copy, arrays["params"])}
    else:   # patience counts epochs: those since the last validation
      c = c.replace(bad_epochs=c.bad_epochs + epochs_since_validation(valid_every, c.epoch))
  c = c.replace(epoch=c.epoch + 1, epochs_total=c.epochs_total + 1, step=0, loss_sum=0.0,
                loss_steps=0)
  return state.replace(arrays=arrays, cursor=c), row, score, improved


def keep_params(state: State, valid: dict | None, restore_best: bool) -> State:
  """The state at the end of a training phase: its best epoch's parameters
  (train.restore_best; else its last's), and their validation metrics when known."""
  c, arrays = state.cursor, state.arrays
  c = c.replace(params_valid=None if valid is None else valid["overall"])
  if restore_best and valid is not None:   # else its one epoch is the best
    arrays = {**arrays, "params": jax.tree.map(jnp.copy, arrays["best_params"])}
    c = c.replace(params_valid=c.best_valid)
  return state.replace(arrays=arrays, cursor=c)


def train_steps(trainer, cfg, state: State, total: int, watch, observers,
                save: Callable[[State], State]) -> State:
  """The epoch's steps [cursor.step, total) in jitted calls of train.steps_per_call, each
  adding its summed loss to the cursor; save(state) writes a mid-epoch checkpoint every
  checkpoint.every_steps. A non-finite loss ends the run (FloatingPointError)."""
  plan, c = state.plan, state.cursor
  spe, every = trainer.steps_per_epoch, cfg.checkpoint.every_steps
  key = jax.random.wrap_key_data(state.arrays["rng"])
  perm = trainer.epoch_permutation(jax.random.fold_in(jax.random.fold_in(key, 1 + c.phase_id),
                                                      c.epoch))
  dropout = trainer.dropout_key(key, c.phase_id)   # None without model.dropout
  state = state.replace(cursor=c.replace(params_valid=None))   # the steps change the parameters
  observers.epoch_started(state.cursor, total)
  while state.cursor.step < total:
    c = state.cursor
    n = min(cfg.train.steps_per_call, total - c.step)
    with watch("steps"):
      model, out = trainer.train_steps(
          {"params": state.arrays["params"], "opt_state": state.arrays["opt_state"]}, perm,
          c.step, n, plan.device_tables, plan.train_item, plan.focal, plan.schedule,
          c.epoch * spe + c.step, dropout)
      loss_sum = float(out["loss_sum"])   # waits for the call: its time is the steps'
    if not np.isfinite(loss_sum):
      raise FloatingPointError(
          f"training diverged: non-finite loss in phase {c.label}, epoch {c.epoch + 1}, "
          f"steps {c.step}-{c.step + n} (learning rate peak {plan.lr:g}, "
          f"schedule {cfg.train.lr_schedule}); no results were written")
    c = c.replace(step=c.step + n, loss_sum=c.loss_sum + loss_sum,
                  loss_steps=c.loss_steps + int(out["steps"]))
    state = state.replace(arrays={**state.arrays, **model}, cursor=c)
    observers.steps_done(c)
    if every and c.step < total and c.step // every > (c.step - n) // every:
      with watch("checkpoint"):
        state = save(state)
  return state
