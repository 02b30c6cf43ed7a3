"""Run records: what a grid commits of each finished run, and the rows the tables read.

<out>/records/<name>.json is the run's results.json (config, metrics, IDW trace, history,
timings; no checkpoints) and <name>.test_ranks.npz its test ranks per window (paired tests).
Both are small and committed, so a fresh clone knows every finished run without its folder.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np


# A run folder's test ranks files (without .npz): after the run, and (IDW with calibration)
# before calibration.
RANKS_FILES = ("test_ranks", "test_ranks_before_calibration")


def record_path(out: str | os.PathLike, name: str) -> Path:
  """<out>/records/<name>.json: the committed record of the finished run `name`."""
  return Path(out) / "records" / f"{name}.json"


class DamagedFile(ValueError):
  """A record, results.json or ranks file that cannot be read (one line naming it)."""


def read_json(path: str | os.PathLike) -> dict:
  """A record or results.json; a file that is not JSON (e.g. cut short by a full disk or a
  killed copy) is a ValueError naming it, in one line."""
  path = Path(path)
  try:
    return json.loads(path.read_text())
  except ValueError as e:   # json.JSONDecodeError, UnicodeDecodeError
    raise DamagedFile(f"{path}: damaged JSON ({e}); restore it (git checkout) or delete it to "
                     "rerun the run") from None


def ranks_path(out: str | os.PathLike, name: str) -> Path:
  """<out>/records/<name>.test_ranks.npz: the test ranks beside a record."""
  return Path(out) / "records" / f"{name}.test_ranks.npz"


def write_json(path: Path, obj: Any):
  """path <- obj as indented JSON, atomically (a .tmp file beside it, then replaced)."""
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text(json.dumps(obj, indent=1, default=str))
  tmp.replace(path)


def write_record(out: str | os.PathLike, name: str, results: dict,
                 workdir: Path | None = None) -> Path:
  """<out>/records/<name>.json <- a finished run's results (its results.json content), and
  <name>.test_ranks.npz (and <name>.test_ranks_before_calibration.npz, IDW) beside it from the
  run folder when it has them (paired tests)."""
  path = record_path(out, name)
  for ranks in RANKS_FILES:
    src = None if workdir is None else Path(workdir) / f"{ranks}.npz"
    if src is not None and src.exists():
      path.parent.mkdir(parents=True, exist_ok=True)
      shutil.copyfile(src, path.with_name(f"{name}.{ranks}.npz"))
  write_json(path, results)
  return path


def load_ranks(path: Path) -> dict | None:
  """{"sampled", "full", "full_no_history"} test ranks of a run (those it has; the last under
  leave-one-out only), or None without the file; a file that is not a readable .npz (cut short,
  overwritten) is a ValueError naming it, in one line."""
  path = Path(path)
  if not path.exists():
    return None
  try:
    with np.load(path) as f:
      return {k: f[k] for k in ("sampled", "full", "full_no_history") if k in f}
  except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
    raise DamagedFile(f"{path}: damaged test ranks file ({type(e).__name__}: {e}); restore it "
                     "(git checkout) or delete it (the run's paired intervals are then n/a)") \
        from None


def run_ranks(out: str | os.PathLike, name: str, workdir: str | os.PathLike) -> dict | None:
  """A run's test ranks: its record's <out>/records/<name>.test_ranks.npz, else its run
  folder's test_ranks.npz (a run not yet recorded); None without either."""
  path = ranks_path(out, name)
  return load_ranks(path if path.exists() else Path(workdir) / "test_ranks.npz")


def row(method: str, seed: int, sweep: dict, results: dict | None, name: str = "") -> dict:
  """The tables' input for one run: {"method", "seed", "sweep" (leaf names), "results", "name"
  (the run's record name, for warnings)}."""
  return {"method": method, "seed": seed,
          "sweep": {k.rsplit(".", 1)[-1]: v for k, v in sweep.items()}, "results": results,
          "name": name}


def records_to_rows(records: Iterable) -> list[dict]:
  """Rows of grid RunRecords (results None where a run did not finish)."""
  return [row(r.spec.method, r.spec.seed, r.spec.sweep, r.results, r.name) for r in records]


def rows_from_manifest(out: str | os.PathLike, with_ranks: bool = False) -> list[dict]:
  """Rows for the tables from <out>/grid.json: each run's results from its record
  <out>/records/<name>.json when there is one, else from its run folder's results.json; each
  row also holds "run" (its manifest entry) and "path" (the file its results came from, None
  without one). with_ranks adds "ranks" (the run's test ranks, records/<name>.test_ranks.npz or
  the run folder's test_ranks.npz; None without them) for the significance tests. A damaged
  file is a ValueError naming it. Which rows the tables may use: cache.accepted_rows."""
  out = Path(out)
  path = out / "grid.json"
  if not path.is_file():
    raise ValueError(f"{path}: not found; {out} is not a grid's results folder (the grid, "
                     "search or figures command writes it)")
  try:
    manifest = json.loads(path.read_text())
    missing = [k for run in manifest["runs"] for k in ("name", "workdir", "method", "seed", "sweep")
               if k not in run]
    if missing:
      raise KeyError(f"a run without {missing[0]!r}")
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f"{path}: not a grid manifest ({type(e).__name__}: {e})") from None
  rows = []
  for run in manifest["runs"]:
    path = record_path(out, run["name"])
    folder = Path(run["workdir"])
    if not folder.is_absolute() and not folder.exists():
      folder = out / "runs" / run["name"]
    if not path.exists():
      path = folder / "results.json"
    found = path.exists()
    results = read_json(path) if found else None
    rows.append(row(run["method"], run["seed"], run["sweep"], results, run["name"]))
    rows[-1].update(run=run, path=path if found else None)
    if with_ranks:
      rows[-1]["ranks"] = run_ranks(out, run["name"], folder)
      rows[-1]["ranks_file"] = str(ranks_path(out, run["name"]))
  return rows
