"""No wrong number lands: divergence, empty data and user errors stop with one clear line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny import TINY_OVERRIDES

ROOT = Path(__file__).resolve().parents[1]
# Every case is a subprocess of its command (what the user sees); the fast subset (-m "not slow")
# keeps a few of each kind, the full suite runs them all.
slow = pytest.mark.slow


def _slow(*args):
  return pytest.param(*args, marks=slow)


def _launch(workdir, *extra):
  cmd = [sys.executable, str(ROOT / "launch.py"), f"--workdir={workdir}",
         "--config=" + str(ROOT / "configs/synthetic.py") + ":mur_idw", *TINY_OVERRIDES, *extra]
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


@slow
def test_divergence_stops_the_run_and_names_where(tmp_path):
  proc = _launch(tmp_path, "--config.train.learning_rate=1e6")
  assert proc.returncode == 1, proc.stderr[-2000:]
  err = proc.stderr.strip().splitlines()
  assert "training diverged" in err[0] and "pretrain" in err[0] and "learning rate" in err[0]
  assert "Traceback" not in proc.stderr
  assert not (tmp_path / "results.json").exists()


@slow
def test_data_with_nothing_to_train_on_is_refused_with_counts(tmp_path):
  proc = _launch(tmp_path, "--config.data.synthetic.seq_len=3")
  assert proc.returncode == 1
  line = proc.stderr.strip().splitlines()[0]
  assert "nothing to train on" in line and "train_examples 0" in line and "windows" in line
  assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("flag,words", [
    ("--config.model.num_interestz=3", ("num_interestz", "Did you mean", "num_interests")),
    ("--config.model.num_interests=0", ("config.model.num_interests", "must be >= 1")),
    _slow("--config=configs/nope.py", ("configs/nope.py",)),
    _slow("--config=configs/synthetic.py:nope", ("config arg 'nope' is neither a method",)),
    _slow("--config.model.num_heads=0", ("config.model.num_heads", "must be >= 1")),
    _slow("--config.data.synthetic.num_clusters=0", ("config.data.synthetic.num_clusters",)),
    _slow("--config.idw.kde_sample_size=-3", ("config.idw.kde_sample_size", "must be >= 0")),
])
def test_user_errors_are_one_line(tmp_path, flag, words):
  proc = _launch(tmp_path, flag)
  assert proc.returncode != 0
  lines = proc.stderr.strip().splitlines()
  assert len(lines) <= 2 and "Traceback" not in proc.stderr, proc.stderr
  assert all(w in lines[0] for w in words), lines[0]
  debug = _launch(tmp_path, flag, "--debug")
  assert "Traceback" in debug.stderr


@slow
def test_a_batch_larger_than_the_data_and_a_stride_past_the_window_are_config_errors(tmp_path):
  proc = _launch(tmp_path, "--config.train.batch_size=100000")
  assert proc.returncode == 1
  assert "config.train.batch_size=100000 is larger than the data" in proc.stderr.splitlines()[0]
  proc = _launch(tmp_path, "--config.preset=authors_code", "--config.data.protocol.max_len=4")
  assert proc.returncode == 1
  assert "config.data.protocol.stride: must be in 1..data.protocol.max_len=4, got 5" in (
      proc.stderr.splitlines()[0])


@pytest.mark.parametrize("module", ["idw_jax.experiments.grid",
                                    _slow("idw_jax.experiments.figures"),
                                    _slow("idw_jax.experiments.search")])
def test_experiment_commands_report_a_mistyped_field_in_one_line(module):
  proc = subprocess.run([sys.executable, "-m", module, "--config.model.num_interestz=3"],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and "Did you mean" in lines[0] and "Traceback" not in proc.stderr


@slow
def test_a_workdir_that_cannot_hold_a_run_is_named_before_the_data_is_read(tmp_path):
  a_file = tmp_path / "a_file"
  a_file.write_text("")
  proc = _launch(a_file)
  assert proc.returncode == 1 and "Traceback" not in proc.stderr
  assert f"--workdir={a_file}: cannot hold a run" in proc.stderr.strip().splitlines()[0]


def _module(*args):
  return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                        text=True, timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})


def _fake_grid(folder: Path):
  """A grid folder whose manifest lists one finished MUR run (its record) and one unfinished."""
  import json
  (folder / "records").mkdir(parents=True)
  runs = [{"name": f"{m}-paper-seed0", "method": m, "seed": 0, "sweep": {},
           "workdir": str(folder / "runs" / f"{m}-paper-seed0")} for m in ("mur", "sur")]
  (folder / "grid.json").write_text(json.dumps({"runs": runs}))
  (folder / "records" / "mur-paper-seed0.json").write_text(json.dumps({"dataset": "synthetic"}))


@pytest.mark.parametrize("args,words,code", [
    (("idw_jax.experiments.tables", "{tmp}/none"), ("grid.json", "not found"), 2),
    _slow(("idw_jax.experiments.significance", "{tmp}/none"), ("grid.json", "not found"), 2),
    _slow(("idw_jax.experiments.significance", "{tmp}/g", "--against=nope"),
          ("--against='nope'", "finished: mur"), 2),
    _slow(("idw_jax.experiments.significance", "{tmp}/g", "--metirc=HR@20"),
          ("unknown option '--metirc=HR@20'",), 2),
    _slow(("idw_jax.experiments.grid", "--seeds=3-1", "--max_new_runs=0", "--out={tmp}/o"),
          ("--seeds", "'3-1' is empty"), 1),
    _slow(("idw_jax.experiments.grid", "--seeds=abc", "--max_new_runs=0", "--out={tmp}/o"),
          ("--seeds: 'abc' is not a seed",), 1),
    _slow(("idw_jax.experiments.grid", "--set=model.embed_dim=abc", "--max_new_runs=0",
           "--out={tmp}/o"), ("config.model.embed_dim", "'abc' is not of type int"), 1),
    _slow(("idw_jax.experiments.search", "--momenta=abc", "--max_new_runs=0", "--out={tmp}/o"),
          ("--momenta: 'abc' is not a number",), 1),
    _slow(("idw_jax.recommend", "--workdir={tmp}/none", "--history=1 2"),
          ("holds no checkpoint",), 1),
    _slow(("idw_jax.export", "--workdir={tmp}/none", "--out={tmp}/e", "--platforms=nope"),
          ("--platforms: nope is not one of",), 1),
])
def test_experiment_and_serving_commands_end_user_errors_in_one_line(tmp_path, args, words, code):
  _fake_grid(tmp_path / "g")
  proc = _module(*(a.format(tmp=tmp_path) for a in args))
  lines = proc.stderr.strip().splitlines()
  assert proc.returncode == code and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  assert all(w in lines[-1] for w in words), lines[-1]
  assert not (tmp_path / "o" / "table.md").exists()
  assert not (tmp_path / "g" / "significance.md").exists()


def test_tables_refuse_a_grid_without_a_finished_run(tmp_path):
  import json
  _fake_grid(tmp_path)
  (tmp_path / "records" / "mur-paper-seed0.json").unlink()
  proc = _module("idw_jax.experiments.tables", str(tmp_path))
  assert proc.returncode == 1 and "none has finished" in proc.stderr
  assert not (tmp_path / "table.md").exists()
  assert json.loads((tmp_path / "grid.json").read_text())["runs"]   # (the manifest is there)
