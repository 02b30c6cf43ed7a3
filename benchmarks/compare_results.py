r"""Are two runs' results.json the same numbers? Field by field, times and paths aside.

  python benchmarks/compare_results.py BEFORE/results.json AFTER/results.json

Compares test / valid metrics, silhouette, the IDW trace, the per-epoch history, the phase rows
and the data report, leaving out what changes between runs without changing a number: wall
seconds, timings, save logs, paths (workdir, pretrained_from, data.root / tfds_dir), the host
block and fields only one side has (a field added since the baseline). Prints JSON
{"identical": bool, "compared": n, "differences": [...]} and exits 1 when they differ: the check
that a refactoring moved no number (results/checks/README.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Keys whose values are times, paths or provenance: never compared, wherever they appear.
SKIP = {"seconds", "timing", "wall_seconds", "save_log", "host", "pretrained_from", "root",
        "tfds_dir", "elapsed", "phase_started", "workdir", "path"}
TOP = ("method", "dataset", "preset", "seed", "config", "test", "valid", "silhouette",
       "idw_trace", "phases", "history", "data", "test_before_calibration")


def diff(a, b, path: str, out: list[str]) -> int:
  """Appends 'path: a != b' lines to out for every differing leaf; returns leaves compared."""
  if isinstance(a, dict) and isinstance(b, dict):
    n = 0
    for k in sorted(set(a) & set(b)):
      if k not in SKIP:
        n += diff(a[k], b[k], f"{path}.{k}" if path else k, out)
    return n
  if isinstance(a, list) and isinstance(b, list):
    if len(a) != len(b):
      out.append(f"{path}: length {len(a)} != {len(b)}")
      return 1
    return sum(diff(x, y, f"{path}[{i}]", out) for i, (x, y) in enumerate(zip(a, b)))
  if a != b:
    out.append(f"{path}: {a!r} != {b!r}")
  return 1


def compare(before: dict, after: dict) -> dict:
  out: list[str] = []
  n = sum(diff(before[k], after[k], k, out) for k in TOP if k in before and k in after)
  return {"identical": not out, "compared": n, "differences": out[:50]}


def main(argv) -> int:
  if len(argv) != 3:
    print("usage: python benchmarks/compare_results.py BEFORE/results.json AFTER/results.json",
          file=sys.stderr)
    return 2
  a, b = (json.loads(Path(p).read_text()) for p in argv[1:])
  report = compare(a, b)
  print(json.dumps(report, indent=1))
  return 0 if report["identical"] else 1


if __name__ == "__main__":
  sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
  from idw_jax import cli
  cli.run(main)
