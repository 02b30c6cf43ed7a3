"""What a run shows and writes about itself: log lines and progress bars, phase rows, the
results dict (results.json) and its text summary, embeddings and test ranks for the figures.
The observers that print and log while a run runs are in idw_jax/observers.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from idw_jax import provenance
from idw_jax.results_text import results_table  # noqa: F401 (moved there: no jax)
from idw_jax.data import vocab
from idw_jax.run_state import TRAIN_PHASES


def write_line(msg: str, **_):
  """A line on stdout that does not break a progress bar."""
  tqdm.tqdm.write(msg, file=sys.stdout)
  sys.stdout.flush()


def progress(total: int, initial: int, desc: str):
  """A progress bar on a terminal (process 0); None elsewhere (log files get epoch lines)."""
  if jax.process_index() != 0 or not sys.stderr.isatty():
    return None
  return tqdm.tqdm(total=total, initial=initial, desc=desc, leave=False, file=sys.stderr)


def phase_row(cursor, history, name: str, seconds: float, extra: dict | None = None) -> dict:
  """The row of results.json "phases" (and the phase table) for the phase `cursor` is in; a
  training phase's row sums its epochs' steps and timing (history: the run's epoch rows)."""
  train = cursor.phase in TRAIN_PHASES
  row = {"phase": name, "epochs": cursor.epoch if train else None,
         "best_valid": cursor.best_metric, "seconds": seconds, **(extra or {})}
  if train:
    epochs = [r for r in history
              if r["phase"] == cursor.phase and r["idw_iter"] == cursor.idw_iter]
    row["steps"] = sum(r.get("steps", 0) for r in epochs)
    row["timing"] = {k: sum(r["timing"][k] for r in epochs if "timing" in r)
                     for k in ("steps", "valid", "checkpoint", "log", "other")}
  return row


def metric_note(metric: tuple[str, str], early_stop_metric: str) -> dict | None:
  """{"metric": "split/name"} for the phase row of a training phase that watches another
  metric than eval.early_stop_metric overall (its best_valid is that metric's)."""
  split, name = metric
  return None if (split, name) == ("overall", early_stop_metric) else {"metric": f"{split}/{name}"}


def check_finite(params, metrics: dict):
  """Raises FloatingPointError naming the first non-finite parameters or overall metrics
  (metrics: {split: evaluate's dict}). NaN scores rank last rather than propagate, so both."""
  bad = [jax.tree_util.keystr(path) for path, x in jax.tree_util.tree_leaves_with_path(params)
         if not bool(jnp.all(jnp.isfinite(x)))]
  bad += [f"{split}/{kind}/overall/{k}" for split, r in metrics.items()
          for kind, block in r.items() if block
          for k, v in block["overall"].items() if not np.isfinite(v)]
  if bad:
    raise FloatingPointError(f"non-finite parameters or metrics at evaluation "
                             f"({', '.join(bad[:4])}); no results were written")


def save_embeddings(workdir: Path, trainer, params, name: str, weights):
  """Item embeddings (and IDW weights) for the figures: <workdir>/embeddings/<name>.npz, rows =
  ids 1..N (process 0)."""
  if jax.process_index() != 0:
    return
  splits = trainer.splits
  folder = Path(workdir) / "embeddings"
  folder.mkdir(exist_ok=True)
  emb = np.asarray(trainer.item_embeddings(params, training=False))[1:]
  extra = {} if splits.clusters is None else {"clusters": splits.clusters[1:]}
  np.savez(folder / f"{name}.npz", item_emb=emb, item_weight=np.asarray(weights),
           train_counts=splits.train_counts[1:], **extra)


def test_metrics(trainer, workdir: Path, params, ranks_file: str) -> dict:
  """Test metrics of params (Trainer.evaluate); their ranks per window go to
  <workdir>/<ranks_file> (`save_ranks`)."""
  test = trainer.evaluate(params, "test", return_ranks=True)
  save_ranks(workdir, test.pop("ranks"), ranks_file)
  return test


def save_vocabulary(workdir: Path, splits, fingerprint: str | None, replace: bool):
  """<workdir>/vocab.json: the run's raw id <-> dense id (idw_jax/data/vocab.py), written when
  it starts (replace: a fresh start) or where a resumed run has none yet (process 0)."""
  if jax.process_index() == 0 and (replace or not (Path(workdir) / vocab.FILE).exists()):
    vocab.write(workdir, splits, fingerprint)


def save_ranks(workdir: Path, ranks: dict, name: str):
  """Test ranks per window (0-based; sampled and full corpus) in <workdir>/<name>, for paired
  comparisons of runs (idw_jax.experiments.significance); process 0."""
  if jax.process_index() != 0:
    return
  def small(r):   # the narrowest unsigned type that holds every rank
    return r.astype(np.uint16 if r.max(initial=0) < 2 ** 16 else np.uint32)
  np.savez_compressed(Path(workdir) / name,
                      **{k: small(np.asarray(v)) for k, v in ranks.items() if v is not None})


def results(cfg, run, data_report: dict, mesh) -> dict:
  """results.json of a finished run (run: its run_state.RunState)."""
  log = run.log
  r = log.results
  return {
      "method": cfg.method,
      "dataset": cfg.data.name,
      "preset": cfg.preset,
      "seed": cfg.seed,
      "config": run.config,
      "test": _rankings(r["test"]),
      "valid": _rankings(r["valid"]),
      # IDW with calibration: the test metrics before it (those of idw.calibrate=False).
      "test_before_calibration": log.test_before_calibration,
      "silhouette": r["silhouette"],
      "idw_trace": list(log.idw_trace),
      "phases": list(log.phase_rows),
      "history": list(log.history),
      "save_log": list(log.save_log),
      "data": data_report,
      # The raw data file's sha256 (data/fingerprint.py; None for synthetic data).
      "data_fingerprint": run.data_fingerprint,
      "wall_seconds": run.cursor.elapsed,
      # Set when pretraining came from another run (its seconds are in wall_seconds).
      "pretrained_from": log.pretrained_from,
      "device": {"platform": jax.default_backend(), "kind": jax.devices()[0].device_kind,
                 "count": jax.device_count(), "processes": jax.process_count(),
                 "mesh": None if mesh is None else dict(zip(mesh.axis_names, mesh.devices.shape))},
      # The CPU, jax/jaxlib and commit that finished the run (results are bit-identical per CPU).
      "host": provenance.host(),
  }


def _rankings(evaluation: dict) -> dict:
  """results.json's block of one split: "sampled" and "full", and "full_no_history" where the
  protocol has it (leave-one-out)."""
  extra = {k: evaluation[k] for k in ("full_no_history",) if k in evaluation}
  return {"sampled": evaluation["sampled"], "full": evaluation["full"], **extra}


def write_results(workdir: Path, results: dict):
  """<workdir>/results.json, replaced in one step (a reader never sees half a file)."""
  tmp = Path(workdir) / "results.json.tmp"
  tmp.write_text(json.dumps(results, indent=1, default=str))
  tmp.replace(Path(workdir) / "results.json")
