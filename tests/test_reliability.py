"""No wrong number lands: divergence, empty data and user errors stop with one clear line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny import TINY_OVERRIDES

ROOT = Path(__file__).resolve().parents[1]


def _launch(workdir, *extra):
  cmd = [sys.executable, str(ROOT / "launch.py"), f"--workdir={workdir}",
         "--config=" + str(ROOT / "configs/synthetic.py") + ":mur_idw", *TINY_OVERRIDES, *extra]
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


def test_divergence_stops_the_run_and_names_where(tmp_path):
  proc = _launch(tmp_path, "--config.train.learning_rate=1e6")
  assert proc.returncode == 1, proc.stderr[-2000:]
  err = proc.stderr.strip().splitlines()
  assert "training diverged" in err[0] and "pretrain" in err[0] and "learning rate" in err[0]
  assert "Traceback" not in proc.stderr
  assert not (tmp_path / "results.json").exists()


def test_data_with_nothing_to_train_on_is_refused_with_counts(tmp_path):
  proc = _launch(tmp_path, "--config.data.synthetic.seq_len=3")
  assert proc.returncode == 1
  line = proc.stderr.strip().splitlines()[0]
  assert "nothing to train on" in line and "train_examples 0" in line and "windows" in line
  assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("flag,words", [
    ("--config.model.num_interestz=3", ("num_interestz", "Did you mean", "num_interests")),
    ("--config.model.num_interests=0", ("config.model.num_interests", "must be >= 1")),
    ("--config=configs/nope.py", ("configs/nope.py",)),
])
def test_user_errors_are_one_line(tmp_path, flag, words):
  proc = _launch(tmp_path, flag)
  assert proc.returncode != 0
  lines = proc.stderr.strip().splitlines()
  assert len(lines) <= 2 and "Traceback" not in proc.stderr, proc.stderr
  assert all(w in lines[0] for w in words), lines[0]
  debug = _launch(tmp_path, flag, "--debug")
  assert "Traceback" in debug.stderr


def test_a_batch_larger_than_the_data_and_a_stride_past_the_window_are_config_errors(tmp_path):
  proc = _launch(tmp_path, "--config.train.batch_size=100000")
  assert proc.returncode == 1
  assert "config.train.batch_size=100000 is larger than the data" in proc.stderr.splitlines()[0]
  proc = _launch(tmp_path, "--config.preset=authors_code", "--config.data.protocol.max_len=4")
  assert proc.returncode == 1
  assert "config.data.protocol.stride: must be in 1..data.protocol.max_len=4, got 5" in (
      proc.stderr.splitlines()[0])


@pytest.mark.parametrize("module", ["idw_jax.experiments.grid", "idw_jax.experiments.figures",
                                    "idw_jax.experiments.search"])
def test_experiment_commands_report_a_mistyped_field_in_one_line(module):
  proc = subprocess.run([sys.executable, "-m", module, "--config.model.num_interestz=3"],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and "Did you mean" in lines[0] and "Traceback" not in proc.stderr
