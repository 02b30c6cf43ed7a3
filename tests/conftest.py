"""What many tests read, made once a session: tiny synthetic runs (in process), one tiny grid.

A test that only reads a finished run takes a fixture here instead of training its own; one that
changes a run's folder copies it first (tests.tiny.copy_run). The runs are tests.tiny.tiny_run's:
those of launch.py's `--config=configs/synthetic.py:<method>` with tests.tiny.RUN_OVERRIDES, so a
subprocess of launch.py with those flags resumes or reprints them.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import pytest

# The suite runs on CPU, as its subprocesses do (JAX_PLATFORMS=cpu): a run made here and one
# made by launch.py must give the same numbers bit for bit. Set before anything imports jax
# (the test modules import it; this file imports nothing that does).
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# Under pytest-xdist (-n N) each worker keeps to its own share of the cores (and its subprocesses
# inherit it), so N workers do not fight over every core with N thread pools.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and hasattr(os, "sched_setaffinity"):
  _cores = sorted(os.sched_getaffinity(0))
  _n = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
  _i = int(_worker[2:])
  if _n > 1 and len(_cores) >= _n:
    os.sched_setaffinity(0, _cores[_i * len(_cores) // _n:(_i + 1) * len(_cores) // _n])


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache():
  """JAX's persistent compilation cache for the whole session (launch.py and the grid turn it
  on too): a program compiled here is reused by the subprocesses, and the other way round."""
  from idw_jax import compilation_cache
  compilation_cache.enable()


@pytest.fixture(scope="session", autouse=True)
def _temp_files_under_pytest(tmp_path_factory):
  """Temporary files of this process (TFDS leaves an empty mkdtemp("tfds") folder behind every
  dataset it builds) go under pytest's own folder, which it prunes, not into /tmp."""
  before = tempfile.tempdir
  tempfile.tempdir = str(tmp_path_factory.mktemp("tempfile"))
  yield
  tempfile.tempdir = before


def _once(tmp_path_factory, name: str, make):
  """make(folder) once per test session: under pytest-xdist the first worker to ask makes it in
  a folder all workers share (the others wait on a lock, then read its pickled value), so the
  session's runs are trained once however many workers there are. Tests only read the folder."""
  if not os.environ.get("PYTEST_XDIST_WORKER"):
    return make(tmp_path_factory.mktemp(name))
  shared = tmp_path_factory.getbasetemp().parent / "shared"   # pytest-N/, above popen-gwK/
  shared.mkdir(exist_ok=True)
  with open(shared / f"{name}.lock", "w") as lock:   # closing the file releases the lock
    fcntl.flock(lock, fcntl.LOCK_EX)
    value_file = shared / f"{name}.pickle"
    if value_file.exists():
      return pickle.loads(value_file.read_bytes())
    folder = shared / name
    if folder.exists():                   # a worker that failed half-way: start again
      shutil.rmtree(folder)
    folder.mkdir()
    value = make(folder)
    value_file.write_bytes(pickle.dumps(value))
    return value


@pytest.hookimpl(tryfirst=True)      # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
  """Tests that share a module-scoped fixture (a killed run, a worker subprocess) run on one
  pytest-xdist worker (`--dist loadgroup`), so the fixture is made once, not once a worker."""
  for item in items:
    defs = getattr(item, "_fixtureinfo", None)
    names = defs.name2fixturedefs if defs is not None else {}
    if any(d and d[-1].scope == "module" for d in names.values()):
      item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture(scope="session")
def mur_idw_run(tmp_path_factory):
  """A finished tiny MUR-IDW run (pretrain, sleep 0, wake 1, sleep 1, calibrate, evaluate): a
  tests.tiny.FinishedRun."""
  from tests.tiny import tiny_run
  return _once(tmp_path_factory, "mur_idw", lambda folder: tiny_run("mur_idw", folder))


@pytest.fixture(scope="session")
def mur_run(tmp_path_factory):
  """A finished tiny MUR run: MUR-IDW's pretraining, run as a method of its own (M = 5, 50
  synthetic items, window 19)."""
  from tests.tiny import tiny_run
  return _once(tmp_path_factory, "mur", lambda folder: tiny_run("mur", folder))


@pytest.fixture(scope="session")
def tiny_grid(tmp_path_factory):
  """A finished tiny grid (config_lib.TINY_SWEEP; sur and mur, seed 0): its folder and specs.
  Copy what a test changes (e.g. with shutil.copytree)."""
  return _once(tmp_path_factory, "grid", _make_tiny_grid)


def _make_tiny_grid(out: Path):
  from idw_jax import config as config_lib
  from idw_jax.experiments import grid
  from idw_jax.experiments import specs as specs_lib
  synthetic = str(Path(__file__).resolve().parents[1] / "configs" / "synthetic.py")
  specs = specs_lib.make_specs(synthetic, ["sur", "mur"], [0], fixed=dict(config_lib.TINY_SWEEP))
  recs = grid.run_grid(specs, out, echo=lambda s: None)
  assert [r.status for r in recs] == ["done", "done"], [r.error for r in recs]
  return out, specs
