"""A grid's launch.py children (--jobs > 1) never outlive it, a rerun says why a run cannot
start, and a grid that finished nothing writes no table (issue 31.7).

Each test failed on the code before (b1b817b); each says what it reproduces. The kill tests
start real launch.py runs (slow); the others start none.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from idw_jax import config as config_lib
from idw_jax import workdir as workdir_lib
from idw_jax.experiments import grid
from idw_jax.experiments import specs as specs_lib
from tests import handmade

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = handmade.SYNTHETIC
TINY = dict(config_lib.TINY_SWEEP)


def _children(pid: int) -> list[int]:
  """The live launch.py processes whose parent is `pid` (Linux /proc)."""
  out = []
  for proc in Path("/proc").iterdir():
    if proc.name.isdigit() and _alive(int(proc.name)):
      try:
        ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        cmdline = (proc / "cmdline").read_bytes()
      except (OSError, ValueError, IndexError):
        continue
      if ppid == pid and b"launch.py" in cmdline:
        out.append(int(proc.name))
  return out


def _alive(pid: int) -> bool:
  """Running (not gone, not a zombie waiting to be reaped)."""
  try:
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
  except (OSError, IndexError):
    return False
  return state != "Z"


def _start_grid(out: Path) -> tuple[subprocess.Popen, list[int]]:
  """grid --jobs=2 of two long tiny runs; returns it once both launch.py children run."""
  overrides = [f"--config.{k}={v}" for k, v in {**TINY, "train.max_epochs": 500}.items()]
  cmd = [sys.executable, "-m", "idw_jax.experiments.grid", f"--config={SYNTHETIC}",
         "--methods=mur", "--seeds=0,1", "--jobs=2", f"--out={out}", *overrides]
  proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 120
  children = []
  while time.time() < deadline and len(children) < 2 and proc.poll() is None:
    time.sleep(0.2)
    children = _children(proc.pid)
  assert len(children) == 2, (proc.poll(), children)
  return proc, children


def _gone(pids: list[int], timeout: float = 20.0) -> bool:
  deadline = time.time() + timeout
  while time.time() < deadline and any(_alive(p) for p in pids):
    time.sleep(0.1)
  return not any(_alive(p) for p in pids)


def _end(pids: list[int]):
  """Cleanup: SIGKILL what the test started and is still alive (the old code's orphans)."""
  for pid in pids:
    if _alive(pid):
      os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG: Linux only")
def test_a_grid_killed_outright_takes_its_launch_children_with_it(tmp_path):
  # Reproduces 31.7: `grid --jobs=2` killed with -9 left its launch.py children running (they
  # went on writing the run folders, and held their locks against a rerun).
  proc, children = _start_grid(tmp_path / "out")
  try:
    proc.kill()
    proc.wait(timeout=30)
    assert _gone(children), [p for p in children if _alive(p)]
  finally:
    _end(children)


@pytest.mark.slow
def test_sigterm_ends_the_grid_and_its_children_in_one_line(tmp_path):
  # Reproduces 31.7: SIGTERM (or Ctrl-C) ended the grid alone; now it ends its children (in
  # their own sessions, so a terminal's Ctrl-C reaches the grid only) and says so, writing no
  # table for runs it did not finish.
  out = tmp_path / "out"
  proc, children = _start_grid(out)
  try:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert _gone(children)
  finally:
    _end(children)
  assert proc.returncode == 1, err[-2000:]
  last = err.strip().splitlines()[-1]
  assert "stopped by signal SIGTERM" in last and "Traceback" not in err, err[-2000:]
  assert not (out / "table.csv").exists() and not (out / "grid.json").exists()


def test_a_locked_run_names_its_holder_and_no_empty_table_is_written(tmp_path):
  # Reproduces 31.7: an immediate rerun (the killed grid's children still running) started
  # launch.py anyway, failed with the orphans' log tail instead of the lock, and wrote a table
  # with n_seeds 0. Now the lock is checked before anything starts, and a grid with no
  # finished run writes no table and no manifest.
  (spec,) = specs_lib.make_specs(SYNTHETIC, ["mur"], [0], fixed=TINY)
  workdir = tmp_path / "runs" / specs_lib.run_name(spec)
  workdir.mkdir(parents=True)
  (workdir / "log.txt").write_text("an orphan's last line\n")
  held = workdir_lib.lock(workdir)
  lines = []
  try:
    (rec,) = grid.run_grid([spec], tmp_path, jobs=2, echo=lines.append)
  finally:
    held.close()
  assert rec.status == "failed"
  assert f"is in use by another run (pid {os.getpid()}" in rec.error, rec.error
  assert (workdir / "log.txt").read_text() == "an orphan's last line\n"   # nothing started
  assert not (tmp_path / "table.csv").exists() and not (tmp_path / "grid.json").exists()
  assert "no run of this grid has finished" in lines[-1], lines


@pytest.mark.slow
def test_a_grid_that_finished_nothing_exits_non_zero_and_keeps_the_table(tmp_path):
  # Reproduces 31.7: a grid with no finished run exited 0 and wrote a table of n_seeds 0.
  base = [sys.executable, "-m", "idw_jax.experiments.grid", f"--config={SYNTHETIC}:mur,tiny",
          "--max_new_runs=0"]
  proc = subprocess.run(base + [f"--out={tmp_path / 'a'}"], cwd=ROOT, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 1, proc.stdout + proc.stderr
  assert "no run of the grid has finished" in proc.stdout
  assert not (tmp_path / "a" / "table.csv").exists()
  # Beside a committed table (of another grid in the same folder): it stays as it was.
  table, manifest = tmp_path / "b" / "table.csv", tmp_path / "b" / "grid.json"
  table.parent.mkdir()
  with open(table, "w", newline="") as fh:
    csv.writer(fh).writerows([["method", "n_seeds"], ["sur", 3]])
  manifest.write_text(json.dumps({"runs": []}))
  before = table.read_bytes(), manifest.read_bytes()
  proc = subprocess.run(base + [f"--out={tmp_path / 'b'}"], cwd=ROOT, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 1 and (table.read_bytes(), manifest.read_bytes()) == before


def test_a_stale_error_txt_beside_a_finished_run_is_removed(tmp_path):
  # Reproduces 31.7: a failed attempt's error.txt stayed beside the results.json that another
  # process (the killed grid's orphan) wrote later, contradicting it.
  (spec,) = specs_lib.make_specs(SYNTHETIC, ["mur"], [0], fixed=TINY)
  workdir = tmp_path / "runs" / specs_lib.run_name(spec)
  workdir.mkdir(parents=True)
  (workdir / "error.txt").write_text("RuntimeError: workdir is in use by another run\n")
  os.utime(workdir / "error.txt", (time.time() - 60, time.time() - 60))
  (workdir / "results.json").write_text(json.dumps(handmade.results(spec, 40.0)))
  (rec,) = grid.run_grid([spec], tmp_path, max_new_runs=0, echo=lambda s: None,
                         write_tables=False)
  assert rec.status == "cached"
  assert not (workdir / "error.txt").exists()
