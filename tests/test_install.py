"""The project installed as a user installs it (a wheel, not editable) into a fresh venv: the
presets ship inside the package, and a tiny run trains through the API from a folder where the
repository's configs/ cannot be reached, with the numbers of the run made here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from tests.tiny import RUN_FIELDS

ROOT = Path(__file__).resolve().parents[1]

TRAIN = """
import json, sys
import idw_jax
try:
  import configs
  sys.exit("the repository's configs/ is reachable")
except ModuleNotFoundError:
  pass
cfg = idw_jax.get_config("synthetic", "mur", tiny=True, overrides=json.loads(sys.argv[1]))
results = idw_jax.train_run(cfg, "run")
print(json.dumps({"file": idw_jax.__file__, "configs": idw_jax.configs.__file__,
                  "test": results["test"]}))
"""


def _run(cmd, **kwargs):
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, **kwargs)
  assert proc.returncode == 0, f"{cmd}: {proc.stdout[-1000:]} {proc.stderr[-2000:]}"
  return proc


@pytest.mark.slow
def test_a_wheel_installed_into_a_fresh_venv_trains_a_tiny_run_through_the_api(tmp_path, mur_run):
  start = time.monotonic()
  src = tmp_path / "src"   # what the wheel is built from: a copy, so the checkout stays clean
  shutil.copytree(ROOT / "idw_jax", src / "idw_jax",
                  ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
  for name in ("pyproject.toml", "README.md"):
    shutil.copy(ROOT / name, src / name)
  # No build isolation, no index: the build tools and dependencies are this venv's.
  _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "-q", "-w", str(tmp_path / "dist"), str(src)])
  wheel, = (tmp_path / "dist").glob("idw_jax-*.whl")

  venv = tmp_path / "venv"
  _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
  python = venv / "bin" / "python"
  site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                   ).stdout.strip())
  # --target installs into the fresh venv alone (it never uninstalls this venv's editable one)
  _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
        str(site), str(wheel)])
  # This venv's packages (jax, ...) without its editable idw_jax: a plain path line does not
  # run the .pth files there (the editable finder), and the fresh site-packages comes first.
  (site / "parent_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

  outside = tmp_path / "elsewhere"
  outside.mkdir()
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  proc = _run([str(python), "-c", TRAIN, json.dumps(RUN_FIELDS)], cwd=outside,
              env={**env, "JAX_PLATFORMS": "cpu"})
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert Path(out["file"]).is_relative_to(site) and Path(out["configs"]).is_relative_to(site)
  assert (outside / "run" / "results.json").is_file()
  assert out["test"] == json.loads(json.dumps(mur_run.results["test"]))   # bit-identical
  assert time.monotonic() - start < 90
