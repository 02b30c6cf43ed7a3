"""A training phase's settings (PRETRAIN, WAKE or CALIBRATE), made once when it starts.

`make` reads them from the method's row (idw_jax/methods.py), the config and the phase: the loss
tables (computed on the host in float64, as `Trainer.tables` does, and placed on the devices
once), learning rate and its schedule over the phase's step budget, focal gamma, whether the
item tower trains, and early stopping. A resumed run makes them again from its checkpoint.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from idw_jax import config as config_lib
from idw_jax import losses
from idw_jax import methods as methods_lib
from idw_jax.run_state import PRETRAIN, WAKE
from idw_jax.train import LossTables, Schedule


@dataclasses.dataclass(frozen=True)
class Plan:
  """A training phase's fixed settings."""

  tables: LossTables                 # the loss tables (host, float32)
  device_tables: dict                # the same on every device, as the jitted step takes them
  lr: float                          # the phase's (peak) learning rate
  train_item: bool                   # False: the item tower is frozen (calibration)
  max_epochs: float                  # the epoch budget (may be fractional)
  focal: float                       # focal gamma (0: cross entropy)
  patience: int                      # early stopping: epochs without a gain
  metric: tuple[str, str]            # early stopping: the (split, metric) it watches
  budget: int                        # the phase's steps at most
  schedule: Schedule                 # the learning rate over the phase's steps


def stopping(cfg, phase: str) -> dict:
  """A training phase's early stopping: patience and the (split, metric) it watches."""
  overall = ("overall", cfg.eval.early_stop_metric)
  if phase == PRETRAIN:
    return {"patience": cfg.train.patience, "metric": overall}
  if phase == WAKE:
    return {"patience": cfg.idw.wake_patience,
            "metric": config_lib.parse_split_metric(cfg.idw.wake_early_stop_metric) or overall}
  return {"patience": cfg.idw.calibration_patience, "metric": overall}


def budget(max_epochs: float, steps_per_epoch: int) -> int:
  """A phase's step budget: max_epochs (may be fractional) epochs of steps, at least one."""
  return max(1, int(np.ceil(max_epochs * steps_per_epoch - 1e-9)))


def schedule(train_cfg, lr: float, total: int) -> Schedule:
  """The learning-rate schedule (train.lr_schedule) of a phase of `total` steps at peak lr."""
  if train_cfg.lr_schedule == "constant":
    return Schedule(peak=lr)
  return Schedule(peak=lr, total=total, warmup=round(train_cfg.warmup_fraction * total),
                  final=train_cfg.final_lr_fraction)


def make(cfg, trainer, phase: str, item_weight=None) -> Plan:
  """The plan of training phase `phase`; item_weight: the IDW item weights [N+1] (a wake's
  loss weights them; a device array is copied to the host once here)."""
  m, lr = methods_lib.get(cfg.method), cfg.train.learning_rate
  if phase == PRETRAIN:
    weight = (losses.uniform_item_weight(trainer.splits.item_prob)
              if m.pretrain_weight == "uniform" else None)
    kw = {"lr": lr, "train_item": True, "max_epochs": cfg.train.max_epochs,
          "focal": cfg.loss.focal_gamma if m.focal else 0.0}
  elif phase == WAKE:
    weight = np.asarray(item_weight)
    kw = {"lr": lr, "train_item": True, "max_epochs": cfg.idw.wake_max_epochs, "focal": 0.0}
  else:   # CALIBRATE: the unweighted loss, a frozen item tower
    weight = None
    kw = {"lr": lr * cfg.idw.calibration_lr_scale, "train_item": False,
          "max_epochs": cfg.idw.calibration_max_epochs, "focal": 0.0}
  tables = trainer.tables(weight, m.margin)
  steps = budget(kw["max_epochs"], trainer.steps_per_epoch)
  return Plan(tables=tables, device_tables=trainer.device_tables(tables), budget=steps,
              schedule=schedule(cfg.train, kw["lr"], steps), **kw, **stopping(cfg, phase))
