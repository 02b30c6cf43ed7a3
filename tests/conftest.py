"""What many tests read, made once a session: tiny synthetic runs (in process), one tiny grid.

A test that only reads a finished run takes a fixture here instead of training its own; one that
changes a run's folder copies it first (tests.tiny.copy_run). The runs are tests.tiny.tiny_run's:
those of launch.py's `--config=configs/synthetic.py:<method>` with tests.tiny.RUN_OVERRIDES, so a
subprocess of launch.py with those flags resumes or reprints them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The suite runs on CPU, as its subprocesses do (JAX_PLATFORMS=cpu): a run made here and one
# made by launch.py must give the same numbers bit for bit. Set before anything imports jax
# (the test modules import it; this file imports nothing that does).
os.environ.setdefault("JAX_PLATFORMS", "cpu")


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache():
  """JAX's persistent compilation cache for the whole session (launch.py and the grid turn it
  on too): a program compiled here is reused by the subprocesses, and the other way round."""
  from idw_jax import compilation_cache
  compilation_cache.enable()


@pytest.fixture(scope="session")
def mur_idw_run(tmp_path_factory):
  """A finished tiny MUR-IDW run (pretrain, sleep 0, wake 1, sleep 1, calibrate, evaluate): a
  tests.tiny.FinishedRun."""
  from tests.tiny import tiny_run
  return tiny_run("mur_idw", tmp_path_factory.mktemp("mur_idw"))


@pytest.fixture(scope="session")
def mur_run(tmp_path_factory):
  """A finished tiny MUR run: MUR-IDW's pretraining, run as a method of its own (M = 5, 50
  synthetic items, window 19)."""
  from tests.tiny import tiny_run
  return tiny_run("mur", tmp_path_factory.mktemp("mur"))


@pytest.fixture(scope="session")
def tiny_grid(tmp_path_factory):
  """A finished tiny grid (config_lib.TINY_SWEEP; sur and mur, seed 0): its folder and specs.
  Copy what a test changes (e.g. with shutil.copytree)."""
  from idw_jax import config as config_lib
  from idw_jax.experiments import grid
  from idw_jax.experiments import specs as specs_lib
  out = tmp_path_factory.mktemp("grid")
  synthetic = str(Path(__file__).resolve().parents[1] / "configs" / "synthetic.py")
  specs = specs_lib.make_specs(synthetic, ["sur", "mur"], [0], fixed=dict(config_lib.TINY_SWEEP))
  recs = grid.run_grid(specs, out, echo=lambda s: None)
  assert [r.status for r in recs] == ["done", "done"], [r.error for r in recs]
  return out, specs
