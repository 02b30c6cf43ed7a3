"""A finished run, recognised from its folder alone: a rerun of launch.py (or `train_run`) on it
prints its results in about a second, without jax, the data or a checkpoint's arrays.

A run is finished for config `cfg` when its folder holds results.json and vocab.json, its newest
checkpoint's phase is DONE, both stored configs equal `cfg` (workdir.config_diff, the rule of
resume) and both stored data fingerprints equal the data file's now (hashed only where that is
cheap: CHEAP_BYTES). Anything else (another config, changed data, a missing or unreadable file, a
file too large to hash quickly, a multi-host run) is not decided here: the full path then
resumes, refuses or reports it as it always has.
"""

from __future__ import annotations

import dataclasses
import json
import types
from pathlib import Path

from idw_jax import results_text
from idw_jax import workdir as workdir_lib
from idw_jax.data import fingerprint as fingerprints
from idw_jax.data import pipeline
from idw_jax.data import summary
from idw_jax.data import vocab
from idw_jax.run_state import DONE

CHEAP_BYTES = 256 << 20   # a data file up to this size is hashed (~0.5 s); a larger one is not


@dataclasses.dataclass(frozen=True)
class Finished:
  workdir: Path
  results: dict   # results.json
  meta: dict      # the newest checkpoint's run state (run_state.RunState.to_json)


def _json(path: Path):
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError):
    return None


def newest_meta(workdir: Path) -> dict | None:
  """The run state of the newest checkpoint, read as the JSON file Orbax wrote
  (<workdir>/checkpoints/<step>/meta/metadata); None when there is none or it does not read."""
  folder = Path(workdir) / "checkpoints"
  try:
    steps = [int(p.name) for p in folder.iterdir() if p.name.isdigit() and p.is_dir()]
  except OSError:
    return None
  meta = _json(folder / str(max(steps)) / "meta" / "metadata") if steps else None
  return meta if isinstance(meta, dict) else None


def _data_fingerprint(data_cfg) -> str | None | bool:
  """The data's fingerprint (None for synthetic data); False where it is not cheap to tell."""
  if data_cfg.source == "synthetic":
    return None
  try:
    path = pipeline.resolve_path(data_cfg)
    if Path(path).stat().st_size > CHEAP_BYTES:
      return False
    return fingerprints.of_file(path)
  except (OSError, ValueError):
    return False


def check(cfg, workdir) -> Finished | None:
  """The finished run in `workdir` when it is the run of `cfg` (finalized) on the data as it is
  now; else None."""
  workdir = Path(workdir)
  if cfg.distributed.initialize or not (workdir / vocab.FILE).is_file():
    return None   # every process runs the full path; a run without vocab.json gets one there
  results, meta = _json(workdir / "results.json"), newest_meta(workdir)
  if not isinstance(results, dict) or meta is None or meta.get("phase") != DONE:
    return None
  now = cfg.to_dict()
  for stored in (results.get("config"), meta.get("config")):
    if not isinstance(stored, dict) or workdir_lib.config_diff(stored, now):
      return None
  fingerprint = _data_fingerprint(cfg.data)
  if fingerprint is False or {results.get("data_fingerprint"), meta.get("data_fingerprint")} != {
      fingerprint}:
    return None
  return Finished(workdir, results, meta)


def _int_keys(report: dict) -> dict:
  """A data report as the reader made it: JSON turned the int keys of its counts (e.g.
  interest_set_sizes {1: 28}) into strings."""
  def back(v):
    if isinstance(v, dict) and v and all(k.lstrip("-").isdigit() for k in v):
      return {int(k): x for k, x in v.items()}
    return v
  return {k: back(v) for k, v in report.items()}


def show(run: Finished, echo=print):
  """What the full path prints on a finished run: the data summary, the resume line, the phase
  table, the test table."""
  r = run.results
  echo(summary.format_summary({**r["data"], "report": _int_keys(r["data"].get("report") or {})}))
  echo(results_text.resumed_line(run.workdir, types.SimpleNamespace(**run.meta)))
  rows = run.meta.get("phase_rows") or []   # as the resumed run's phase table prints them
  if rows:
    echo(results_text.phase_header(r["config"]["eval"]["early_stop_metric"]))
  for row in rows:
    echo(results_text.phase_line(row))
  echo(results_text.results_table(r))
