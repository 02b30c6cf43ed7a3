"""What a run shows and writes about itself: the phase table on stdout, TensorBoard scalars,
the results dict (results.json) and its text summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import jax
import numpy as np
import tqdm

from idw_jax import provenance


class MetricWriter:
  """TensorBoard scalars (tensorboardX, no TensorFlow) on process 0."""

  def __init__(self, logdir: Path):
    self._writer = None
    if jax.process_index() == 0:
      from tensorboardX import SummaryWriter
      self._writer = SummaryWriter(str(logdir))

  def scalars(self, step: int, values: dict):
    if self._writer is None:
      return
    for k, v in values.items():
      if v is not None and np.isfinite(v):
        self._writer.add_scalar(k, float(v), step)
    self._writer.flush()

  def close(self):
    if self._writer is not None:
      self._writer.close()


def write_line(msg: str, **_):
  """A line on stdout that does not break a progress bar."""
  tqdm.tqdm.write(msg, file=sys.stdout)
  sys.stdout.flush()


def progress(total: int, initial: int, desc: str):
  """A progress bar on a terminal (process 0); None elsewhere (log files get epoch lines)."""
  if jax.process_index() != 0 or not sys.stderr.isatty():
    return None
  return tqdm.tqdm(total=total, initial=initial, desc=desc, leave=False, file=sys.stderr)


def _fmt(x, spec=".2f"):
  return "-" if x is None else format(x, spec)


class PhaseTable:
  """One row per phase (pretraining, every sleep and wake, calibration, evaluation)."""

  def __init__(self, metric: str, echo: Callable[..., None]):
    self.metric, self.echo, self._header = metric, echo, False

  def row(self, row: dict):
    if not self._header:
      self.echo(f"{'phase':<14}{'epochs':>7}{'valid ' + self.metric:>15}{'|dw|':>10}"
                f"{'silhouette':>12}{'seconds':>9}", flush=True)
      self._header = True
    note = f"  (best_valid: {row['metric']})" if "metric" in row else ""
    self.echo(f"{row['phase']:<14}{_fmt(row.get('epochs'), 'd'):>7}"
              f"{_fmt(row.get('best_valid')):>15}{_fmt(row.get('weight_change'), '.2e'):>10}"
              f"{_fmt(row.get('silhouette'), '.3f'):>12}{row['seconds']:>9.1f}{note}", flush=True)


def results(cfg, progress, data_report: dict, mesh) -> dict:
  """results.json of a finished run (progress: its driver.RunState)."""
  r = progress.results
  return {
      "method": cfg.method,
      "dataset": cfg.data.name,
      "preset": cfg.preset,
      "seed": cfg.seed,
      "config": progress.config,
      "test": {"sampled": r["test"]["sampled"], "full": r["test"]["full"]},
      "valid": {"sampled": r["valid"]["sampled"], "full": r["valid"]["full"]},
      # IDW with calibration: the test metrics before it (those of idw.calibrate=False).
      "test_before_calibration": progress.test_before_calibration,
      "silhouette": r["silhouette"],
      "idw_trace": progress.idw_trace,
      "phases": progress.phase_rows,
      "history": progress.history,
      "save_log": progress.save_log,
      "data": data_report,
      "wall_seconds": progress.elapsed,
      # Set when pretraining came from another run (its seconds are in wall_seconds).
      "pretrained_from": progress.pretrained_from,
      "device": {"platform": jax.default_backend(), "kind": jax.devices()[0].device_kind,
                 "count": jax.device_count(), "processes": jax.process_count(),
                 "mesh": None if mesh is None else dict(zip(mesh.axis_names, mesh.devices.shape))},
      # The CPU, jax/jaxlib and commit that finished the run (results are bit-identical per CPU).
      "host": provenance.host(),
  }


def results_table(results: dict) -> str:
  """Test metrics as a small text table: rows overall/head/tail, full and sampled ranking."""
  lines = []
  for kind in ("full", "sampled"):
    block = results["test"][kind]
    if block is None:
      continue
    keys = [k for k in block["overall"] if k != "count"]
    title = "full-corpus ranking" if kind == "full" else "sampled (1 + 99) ranking"
    lines.append(f"test, {title} (%):")
    lines.append(f"  {'split':<9}{'count':>8}" + "".join(f"{k:>10}" for k in keys))
    for split in ("overall", "head", "tail"):
      m = block[split]
      lines.append(f"  {split:<9}{m['count']:>8d}" + "".join(f"{m[k]:>10.2f}" for k in keys))
  if results.get("silhouette") is not None:
    lines.append(f"mean silhouette of item embeddings: {results['silhouette']:.3f}")
  lines.append(f"wall time {results['wall_seconds']:.1f} s on {results['device']['count']} x "
               f"{results['device']['kind']}"
               + (f" ({provenance.cpu_identity(results)})" if results.get("host") else ""))
  return "\n".join(lines)
