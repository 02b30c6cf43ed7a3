"""The tiny synthetic configuration (idw_jax.config.TINY) as the tests use it, and its runs."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
from pathlib import Path

from idw_jax import config as config_lib

# As command-line flags, for tests that run launch.py or the grid.
TINY_OVERRIDES = [f"--config.{k}={v}" for k, v in config_lib.TINY.items()]
# The fields of tiny_run's runs besides TINY (a checkpoint every 5 steps: resume tests find
# mid-epoch saves), and all of them as launch.py flags.
RUN_FIELDS = {"checkpoint.every_steps": 5}
RUN_OVERRIDES = TINY_OVERRIDES + [f"--config.{k}={v}" for k, v in RUN_FIELDS.items()]


def tiny_config(method="mur_idw", **fields):
  """Finalized tiny config; fields are dotted overrides, e.g. {"train.max_epochs": 1}."""
  c = config_lib.get_config_for({"data.name": "synthetic"}, f"{method},tiny")
  for key, value in fields.items():
    config_lib._set(c, key, value)
  return config_lib.finalize(c)


@dataclasses.dataclass(frozen=True)
class FinishedRun:
  """A finished run: its folder, results.json's dict, what it printed."""
  workdir: Path
  results: dict
  stdout: str


def tiny_run(method: str, workdir, **fields) -> FinishedRun:
  """driver.run of tiny_config(method) with RUN_FIELDS and `fields`, in this process: the run
  `launch.py --config=configs/synthetic.py:<method> <RUN_OVERRIDES>` makes, bit for bit."""
  from idw_jax import driver
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    results = driver.run(tiny_config(method, **{**RUN_FIELDS, **fields}), workdir)
  return FinishedRun(Path(workdir), results, out.getvalue())


def copy_run(run: FinishedRun | Path, to: Path) -> Path:
  """A copy of a run's folder (without its lock file) that a test may change."""
  shutil.copytree(getattr(run, "workdir", run), to, ignore=shutil.ignore_patterns(".lock"))
  return Path(to)
