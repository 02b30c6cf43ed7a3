"""Wall time of a whole run (pretrain, IDW sleep/wake, calibration, evaluation); one JSON line.

  python benchmarks/end_to_end.py --config=configs/ml1m.py:mur_idw
  python benchmarks/end_to_end.py --config=configs/synthetic.py:mur_idw --set train.max_epochs=2

Runs `launch.py` in a fresh temporary workdir (so nothing resumes), `--set a.b=v` becoming
`--config.a.b=v`, and reads results.json: per-phase seconds (results["phases"]), the total,
the device and mesh and the test metrics. `--timeout` stops a run that takes too long and
reports how far it got (the phases finished so far are in the launch output).

Flags (absl, `--help` lists them):
  --config, --set   config file[:method[,preset]] and KEY=VALUE overrides (benchmarks/common.py)
  --timeout          seconds before giving up (default 3600)
  --keep             workdir to use and keep (default: a temporary one)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import flags

import common  # pylint: disable=g-bad-import-order


def _rounded(x):
  """Floats of a (nested) results row rounded for the JSON line."""
  if isinstance(x, dict):
    return {k: _rounded(v) for k, v in x.items()}
  return common.fmt(x) if isinstance(x, float) else x


def _epoch_breakdown(history: list[dict]) -> dict:
  """Mean seconds per training epoch (full-length epochs only) by part: steps, valid,
  checkpoint, log, other; and the number of epochs averaged."""
  timed = [h["timing"] for h in history if "timing" in h]
  longest = max((h.get("steps", 0) for h in history), default=0)
  full = [h["timing"] for h in history if "timing" in h and h.get("steps", 0) == longest]
  rows = full or timed
  if not rows:
    return {}
  out = {k: common.fmt(sum(t[k] for t in rows) / len(rows)) for k in rows[0]}
  return {**out, "epochs": len(rows)}


def _define_flags():
  common.define_config_flags("configs/synthetic.py")
  flags.DEFINE_float("timeout", 3600.0, "Seconds before giving up.")
  flags.DEFINE_string("keep", None, "Workdir to use and keep (default: temporary).")


def main() -> dict:
  f = flags.FLAGS
  return measure(f.config, f.set, f.timeout, f.keep)


def measure(config: str, overrides=(), timeout: float = 3600.0, keep: str | None = None) -> dict:
  """One run of `config` (file[:arg]) with the --set overrides ("a.b=v"): its JSON line."""
  overrides = list(overrides)
  cfg = common.load_config(config, overrides)  # validates the overrides before launching

  with tempfile.TemporaryDirectory() as tmp:
    workdir = Path(keep or tmp) / "run"
    cmd = [sys.executable, str(common.REPO / "launch.py"), f"--config={config}",
           f"--workdir={workdir}", *[f"--config.{kv}" for kv in overrides]]
    env = dict(os.environ)
    env.setdefault("IDW_DATA_DIR", cfg.data.root)
    start = time.perf_counter()
    try:
      proc = subprocess.run(cmd, cwd=common.REPO, capture_output=True, text=True, env=env,
                            timeout=timeout)
      timed_out, stdout, stderr = False, proc.stdout, proc.stderr
      rc = proc.returncode
    except subprocess.TimeoutExpired as e:
      timed_out, rc = True, None
      stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
      stderr = ""
    wall = time.perf_counter() - start
    result = {"benchmark": "end_to_end", **common.device_info(), "config": config,
              "overrides": overrides, "dataset": cfg.data.name, **common.model_info(cfg),
              "batch_size": cfg.train.batch_size, "wall_seconds_process": common.fmt(wall),
              "timed_out": timed_out, "returncode": rc}
    path = workdir / "results.json"
    if path.exists():
      r = json.loads(path.read_text())
      result.update(
          run_wall_seconds=common.fmt(r["wall_seconds"]),
          device_run=r["device"],
          phases=[_rounded(p) for p in r["phases"]],
          epochs_total=len(r["history"]),
          epoch_seconds=_epoch_breakdown(r["history"]),
          test_primary=(r["test"]["sampled"] or r["test"]["full"])["overall"])
    else:
      result["stdout_tail"] = stdout[-2000:]
      result["stderr_tail"] = stderr[-2000:]
  return common.emit(result)


if __name__ == "__main__":
  _define_flags()
  common.run(main)
