"""A run's folder: its lock, and whether a stored config is the one asked for.

Used by the driver (resume, reused pretraining) and by the grid (cached runs, records), so both
agree on which fields may differ: where the data lies, where a pretraining came from, and the
debug hooks change no number.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from idw_jax import config as config_lib
from idw_jax import methods as methods_lib

# Fields (or whole sections) whose value changes no number of a run.
IGNORED = ("debug", "data.root", "data.tfds_dir", "idw.pretrained_workdir")


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
  """{"a": {"b": 1}} -> {"a.b": 1}, with values JSON-normalised (tuples become lists)."""
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = json.loads(json.dumps(v, default=str))
  return out


def _kept(flat: dict, ignore: tuple[str, ...]) -> dict:
  skip = IGNORED + tuple(ignore)
  return {k: v for k, v in flat.items()
          if not any(k == s or k.startswith(s + ".") for s in skip)}


def config_diff(saved: dict, now: dict, ignore: tuple[str, ...] = ()) -> str:
  """'' when a stored config (backfilled: `config.backfill`) and `now` (a config dict) agree on
  every field outside IGNORED and `ignore` (fields or sections); else the differences,
  "field: stored -> now" joined by "; ". A method without IDW never reads idw.*, so for it
  that section is not compared either."""
  if now.get("method") in methods_lib.NAMES and not methods_lib.get(now["method"]).is_idw:
    ignore = tuple(ignore) + ("idw",)
  a = _kept(flatten(config_lib.backfill(saved)), ignore)
  b = _kept(flatten(now), ignore)
  return "; ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}"
                   for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))


def lock(workdir: Path):
  """Exclusive lock on <workdir>/.lock: two runs of one workdir would delete each other's
  checkpoints. Returns the open file (close it to release; the kernel drops the lock when the
  process ends, killed or not). A held lock is an error naming the holder's pid."""
  path = Path(workdir) / ".lock"
  fh = open(path, "a+")
  try:
    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:
    fh.seek(0)
    holder = fh.read().strip() or "unknown"
    fh.close()
    raise RuntimeError(f"workdir {workdir} is in use by another run (pid {holder}, lock "
                       f"{path}); wait for it to finish or choose another --workdir") from None
  fh.seek(0)
  fh.truncate()
  fh.write(str(os.getpid()))
  fh.flush()
  return fh
