"""What a run reports while it runs, behind one interface the driver calls by event.

The driver calls `observer.phase_started(...)`, `observer.epoch_done(...)` and so on; the log
lines and progress bar (`Echo`), the phase table (`PhaseTable`) and TensorBoard (`TensorBoard`:
curves, test metrics, hyper-parameters) are observers, and so is any a caller adds (a test's
recorder, the kill switch of resume tests in idw_jax/checkpoints.py). Observers report; they
change no state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from idw_jax import reporting
from idw_jax import results_text


class Observer:
  """The events of a run, each a method that does nothing here: override those you need."""

  def run_started(self, how: str, state):
    """how: "fresh", "resumed" (from a checkpoint) or "pretrained" (idw.pretrained_workdir)."""

  def phase_started(self, state):
    """A phase begins (state.cursor.phase); a training phase's state has its plan."""

  def epoch_started(self, cursor, total: int):
    """An epoch of `total` steps begins (or goes on, from cursor.step)."""

  def steps_done(self, cursor):
    """A jitted call of steps ended: cursor.step, loss_sum and loss_steps are its epoch's."""

  def epoch_done(self, cursor, row: dict, *, metric: tuple, score, improved: bool,
                 seconds: float):
    """An epoch ended: its history row, the watched (split, metric), its score (None: not
    validated), whether it improved on the phase's best, the epoch's seconds."""

  def phase_done(self, row: dict):
    """A phase ended: its phase-table row (results.json "phases")."""

  def sleep_done(self, row: dict):
    """A sleep ended: its IDW trace row."""

  def evaluated(self, cursor, results: dict):
    """The final evaluation ended: results.json's "test" and "valid" ({kind: {split:
    {metric: value}}}, e.g. test.sampled.overall.NDCG@20)."""

  def saved(self, save: int, checkpoints):
    """Checkpoint `save` is being written (checkpoints.wait() waits for it)."""

  def run_done(self):
    """The last checkpoint is written."""


EVENTS = tuple(name for name in vars(Observer) if not name.startswith("_"))


class Observers(Observer):
  """Several observers as one: each event goes to each, in order."""

  def __init__(self, members):
    self.members = list(members)


def _fan_out(event: str):
  def call(self, *args, **kwargs):
    for member in self.members:
      getattr(member, event)(*args, **kwargs)
  call.__name__ = event
  return call


for _event in EVENTS:
  setattr(Observers, _event, _fan_out(_event))


class Echo(Observer):
  """Log lines on stdout (the start, each epoch) and a progress bar on a terminal."""

  def __init__(self, echo: Callable[..., None], cfg, workdir: Path, windows: int,
               steps_per_epoch: int):
    self.echo, self.cfg, self.workdir = echo, cfg, workdir
    self.windows, self.steps_per_epoch = windows, steps_per_epoch
    self._bar, self._total = None, 0

  def run_started(self, how, state):
    c, run = state.cursor, f"{self.cfg.method} on {self.cfg.data.name}"
    self.echo({
        "fresh": f"{run}: {self.windows} windows, {self.steps_per_epoch} steps/epoch, workdir "
                 f"{self.workdir}",
        "pretrained": f"{run}: pretraining reused from {state.log.pretrained_from} "
                      f"({c.epochs_total} epochs), workdir {self.workdir}",
        "resumed": results_text.resumed_line(self.workdir, c)}[how], flush=True)

  def epoch_started(self, cursor, total):
    self._total = total
    self._bar = reporting.progress(total, cursor.step, f"{cursor.label} epoch {cursor.epoch + 1}")

  def steps_done(self, cursor):
    if self._bar is None:
      return
    self._bar.update(cursor.step - self._bar.n)
    self._bar.set_postfix(loss=f"{cursor.loss_sum / max(cursor.loss_steps, 1):.4f}")
    if cursor.step >= self._total:
      self._bar.close()
      self._bar = None

  def epoch_done(self, cursor, row, *, metric, score, improved, seconds):
    if self._bar is not None:
      self._bar.close()
      self._bar = None
    split, name = metric
    seen = ("not validated" if score is None else
            f"valid {'' if split == 'overall' else split + ' '}{name} {score:.2f}"
            f"{' *' if improved else ''}")
    self.echo(f"  {cursor.label} epoch {cursor.epoch}: {row['steps']} steps, loss "
              f"{row['train_loss']:.4f}, {seen}, {seconds:.1f} s", flush=True)


class PhaseTable(Observer):
  """One row per phase (pretraining, every sleep and wake, calibration, evaluation); a resumed
  run prints the rows of its checkpoint first."""

  def __init__(self, metric: str, echo: Callable[..., None]):
    self.metric, self.echo, self._header = metric, echo, False

  def run_started(self, how, state):
    for row in state.log.phase_rows:
      self.phase_done(row)

  def phase_done(self, row):
    if not self._header:
      self.echo(results_text.phase_header(self.metric), flush=True)
      self._header = True
    self.echo(results_text.phase_line(row), flush=True)


def flat_hparams(config: dict, prefix: str = "") -> dict[str, bool | int | float | str]:
  """A config dict as TensorBoard hyper-parameters: {"model.embed_dim": 16, ...}, each a
  bool, number or string (a tuple is its text, "(16, 16)"; None is left out)."""
  out = {}
  for key, value in config.items():
    if isinstance(value, dict):
      out.update(flat_hparams(value, f"{prefix}{key}."))
    elif value is not None:
      out[f"{prefix}{key}"] = (value if isinstance(value, (bool, int, float, str)) else
                               str(tuple(value)) if isinstance(value, list) else str(value))
  return out


def final_metrics(results: dict) -> dict[str, float]:
  """{"test/<kind>/<split>/<metric>": value, "final_valid/...": ...} of the final evaluation
  (test and valid of results.json; counts left out), e.g. test/sampled/overall/NDCG_20: a tag
  holds letters, digits and -/_. only (tensorboardX writes the valid/ curves' HR@20 as HR_20),
  and the hparams plugin finds a metric by its exact tag. final_valid, not valid: the epochs'
  validation curves have the valid/ tags."""
  return {f"{tag}/{kind}/{split}/{name.replace('@', '_')}": value
          for part, tag in (("test", "test"), ("valid", "final_valid"))
          for kind, block in (results.get(part) or {}).items() if block
          for split, values in block.items()
          for name, value in values.items() if name != "count"}


class TensorBoard(Observer):
  """TensorBoard scalars (tensorboardX, no TensorFlow) on process 0: each epoch's training loss
  and validation metrics, each sleep's weight change, silhouette and validation metrics; at the
  end the test and validation metrics (final_metrics) and the resolved config as the hparams
  plugin's hyper-parameters (flat_hparams), so runs compare side by side."""

  def __init__(self, logdir: Path, config: dict | None = None):
    self._writer, self.config = None, config or {}
    if jax.process_index() == 0:
      from tensorboardX import SummaryWriter
      self._writer = SummaryWriter(str(logdir))

  def _scalars(self, step: int, values: dict):
    if self._writer is None:
      return
    for k, v in values.items():
      if v is not None and np.isfinite(v):
        self._writer.add_scalar(k, float(v), step)
    self._writer.flush()

  def epoch_done(self, cursor, row, **_):
    self._scalars(cursor.epochs_total, {
        "train/loss": row["train_loss"],
        **{f"valid/{k}": v for k, v in (row["valid"] or {}).items() if k != "count"}})

  def sleep_done(self, row):
    self._scalars(row["iteration"], {
        "idw/weight_change": row["weight_change"], "idw/silhouette": row["silhouette"],
        **{f"idw/valid_{k}": v for k, v in (row["valid"] or {}).items() if k != "count"}})

  def evaluated(self, cursor, results):
    values = final_metrics(results)
    self._scalars(cursor.epochs_total, values)
    if self._writer is None:
      return
    from tensorboardX import summary
    for proto in summary.hparams(flat_hparams(self.config), values):  # experiment, start, end
      self._writer.file_writer.add_summary(proto)
    self._writer.flush()

  def run_done(self):
    if self._writer is not None:
      self._writer.close()


def standard(echo: Callable[..., None], cfg, workdir: Path, windows: int,
             steps_per_epoch: int) -> list[Observer]:
  """What every run reports: log lines, the phase table, TensorBoard scalars."""
  return [Echo(echo, cfg, workdir, windows, steps_per_epoch),
          PhaseTable(cfg.eval.early_stop_metric, echo),
          TensorBoard(Path(workdir) / "tensorboard", cfg.to_dict())]
