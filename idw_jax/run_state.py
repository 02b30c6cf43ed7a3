"""Where a run is and what it has done: the state the driver's phase handlers pass along.

A run's state is its arrays (the checkpoint's pytree), a small resume `Cursor` (phase, IDW
iteration, epoch, step, early stopping, the epoch's loss sums) and an append-only `RunLog`
(results.json's history, IDW trace, phase rows, save log and results). All three are replaced,
never changed in place. `RunState` is their JSON beside the arrays in a checkpoint: one flat
dict, the layout checkpoints had before the split, so old checkpoints restore and readers of
meta["phase"] (idw_jax/recommend.py) keep working.
"""

from __future__ import annotations

import dataclasses
from typing import Any

PRETRAIN, SLEEP, WAKE, CALIBRATE, EVALUATE, DONE = (
    "pretrain", "sleep", "wake", "calibrate", "evaluate", "done")
TRAIN_PHASES = (PRETRAIN, WAKE, CALIBRATE)


@dataclasses.dataclass(frozen=True)
class Cursor:
  """What a resumed run needs to continue from exactly here."""

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

  def replace(self, **fields) -> Cursor:
    return dataclasses.replace(self, **fields)

  def start(self, phase: str, now: float) -> Cursor:
    """The cursor at the start of `phase` (run seconds `now`): no epoch, step or best yet."""
    return self.replace(phase=phase, epoch=0, step=0, best_metric=None, best_valid=None,
                        bad_epochs=0, loss_sum=0.0, loss_steps=0, phase_started=now)

  @property
  def label(self) -> str:
    """The phase's name in logs: 'wake 3' for a wake phase, else the phase."""
    return self.phase if self.phase != WAKE else f"wake {self.idw_iter}"

  @property
  def phase_id(self) -> int:
    """A training phase's number for its epochs' random keys."""
    return {PRETRAIN: 0, WAKE: 1 + self.idw_iter, CALIBRATE: 100_000}[self.phase]


_LOG_LISTS = ("history", "idw_trace", "phase_rows", "save_log")


@dataclasses.dataclass(frozen=True)
class RunLog:
  """What a run has done, for results.json: rows are appended (`add`), the rest set once."""

  history: tuple = ()                # a row per epoch
  idw_trace: tuple = ()              # a row per sleep
  phase_rows: tuple = ()             # a row per phase
  save_log: tuple = ()               # [save, event, phase, iter] per checkpoint
  results: dict | None = None        # test / valid metrics, set by EVALUATE
  pretrained_from: str | None = None  # the base run whose pretraining this run reused
  test_before_calibration: dict | None = None  # IDW: test metrics of the model the last wake
                                     # left, i.e. what the run scores with idw.calibrate=False

  def add(self, **rows) -> RunLog:
    """The log with one row appended to each named list, e.g. add(history=row)."""
    return dataclasses.replace(self, **{k: (*getattr(self, k), row) for k, row in rows.items()})

  def amend_last(self, name: str, **fields) -> RunLog:
    """The log with fields of the last row of list `name` replaced (by a new row)."""
    *rows, last = getattr(self, name)
    return dataclasses.replace(self, **{name: (*rows, {**last, **fields})})

  def replace(self, **fields) -> RunLog:
    return dataclasses.replace(self, **fields)


@dataclasses.dataclass(frozen=True)
class RunState:
  """A checkpoint's JSON: the run's config, data size and data fingerprint (compared on
  resume), cursor and log."""

  config: dict                       # the run's config (compared on resume)
  data: dict | None = None           # the size of the data it trains on (compared on resume:
                                     # the file behind data.path may change, its name not)
  cursor: Cursor = dataclasses.field(default_factory=Cursor)
  log: RunLog = dataclasses.field(default_factory=RunLog)
  data_fingerprint: str | None = None  # "sha256:..." of the raw data file (data/fingerprint.py;
                                     # None: synthetic data, or a checkpoint from before it)

  def to_json(self) -> dict:
    """One flat dict: config, data (and data_fingerprint where there is one), the cursor's
    fields, the log's fields (lists)."""
    log = {k: list(v) if k in _LOG_LISTS else v for k, v in dataclasses.asdict(self.log).items()}
    fp = {} if self.data_fingerprint is None else {"data_fingerprint": self.data_fingerprint}
    return {"config": self.config, "data": self.data, **fp, **dataclasses.asdict(self.cursor),
            **log}

  @classmethod
  def from_json(cls, d: dict) -> RunState:
    """The state of a checkpoint's JSON; fields it lacks (written before they existed) get
    their defaults, fields this code no longer knows are ignored."""
    def pick(kind):
      return {f.name: d[f.name] for f in dataclasses.fields(kind) if f.name in d}
    log = {k: tuple(v) if k in _LOG_LISTS else v for k, v in pick(RunLog).items()}
    return cls(config=d["config"], data=d.get("data"), cursor=Cursor(**pick(Cursor)),
               log=RunLog(**log), data_fingerprint=d.get("data_fingerprint"))


@dataclasses.dataclass(frozen=True)
class State:
  """What a phase handler takes and returns."""

  arrays: dict                       # params, opt_state, best_params, item_weight, rng: the
                                     # checkpoint's pytree (replaced, never changed in place)
  cursor: Cursor
  log: RunLog
  plan: Any = None                   # the training phase's phases.Plan (made again on resume)

  def replace(self, **fields) -> State:
    return dataclasses.replace(self, **fields)
