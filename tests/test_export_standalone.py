"""An export folder loads where idw_jax is not installed (issue 34): jax, numpy, flatbuffers only.

The environment is built here, without downloading anything: a venv without pip whose
site-packages has a .pth file naming a folder of symlinks to exactly the distributions allowed
(jax and its own dependencies, numpy, flatbuffers: their packages, .dist-info and .libs folders,
read from the installed distributions' file lists), and nothing of idw_jax, flax, optax, orbax,
ml_collections or tensorflow.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idw_jax import export
from idw_jax import recommend

# What serving may need: jax with its own dependencies (jaxlib, ml_dtypes, opt_einsum, scipy),
# numpy, and flatbuffers (which jax.export's deserialization imports).
ALLOWED = ("jax", "jaxlib", "ml_dtypes", "opt_einsum", "scipy", "numpy", "flatbuffers")
# Importable in the full environment, and must not be in the standalone one.
ABSENT = ("idw_jax", "flax", "optax", "orbax", "ml_collections", "tensorflow",
          "tensorflow_datasets", "chex", "absl")

# Run in the standalone interpreter around README.txt's lines: proves the absent packages cannot
# be found, loads the folder as its README says, prints the top-k (and the modules imported).
PRELUDE = """
import importlib.util, json, sys
DIR, history, k, absent = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
found = [name for name in absent if importlib.util.find_spec(name) is not None]
if found:
  sys.exit(f"installed in the standalone environment: {', '.join(found)}")
"""
EPILOGUE = """
r = rec.top_k([history], k=k)
print(json.dumps({"items": r.items.tolist(), "scores": r.scores.tolist(),
                  "loader": idw_export.__file__,
                  "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _top_level_entries(dist_name: str) -> set[Path]:
  """The site-packages entries a distribution installed: its packages, modules, .dist-info and
  .libs folders (from its RECORD; scripts outside site-packages are skipped)."""
  dist = importlib.metadata.distribution(dist_name)
  root = Path(dist.locate_file(""))
  tops = {Path(f).parts[0] for f in dist.files or () if not str(f).startswith("..")}
  return {root / t for t in tops if t != "__pycache__" and (root / t).exists()}


def _standalone_python(tmp_path: Path) -> Path:
  """A venv's python that sees ALLOWED and nothing else of this environment."""
  links = tmp_path / "allowed"
  links.mkdir()
  for name in ALLOWED:
    for entry in _top_level_entries(name):
      (links / entry.name).symlink_to(entry)
  venv = tmp_path / "venv"
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                 timeout=60)
  python = venv / "bin" / "python"
  purelib = subprocess.run([str(python), "-I", "-c",
                            "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           check=True, capture_output=True, text=True, timeout=60).stdout.strip()
  (Path(purelib) / "allowed.pth").write_text(f"{links}\n")
  return python


@pytest.mark.slow      # a venv and a fresh interpreter that imports jax (~10 s)
def test_an_export_loads_and_ranks_with_jax_numpy_and_flatbuffers_alone(mur_run, tmp_path):
  folder = tmp_path / "serving"
  served = recommend.load_run(mur_run.workdir)
  export.write(served, folder)
  # The shipped loader is the package's module, byte for byte: no second copy to drift.
  assert (folder / "idw_export.py").read_bytes() == Path(export.__file__).read_bytes()
  readme = (folder / "README.txt").read_text().splitlines()
  assert 3 <= len(readme) <= 5
  code = "\n".join(line.strip() for line in readme if line.startswith("  "))   # its Python
  history, k = "7 3 41 12 30", 10      # synthetic data: raw id k is dense id k
  want = recommend.top_k(mur_run.workdir, [history], k=k)      # the full environment

  python = _standalone_python(tmp_path)
  env = {key: v for key, v in os.environ.items() if not key.startswith("PYTHON")}
  env["JAX_PLATFORMS"] = "cpu"
  cwd = tmp_path / "elsewhere"                                     # outside the repository
  cwd.mkdir()
  script = "\n".join([PRELUDE, code, EPILOGUE])
  proc = subprocess.run([str(python), "-I", "-c", script, str(folder), history, str(k),
                         ",".join(ABSENT)], cwd=cwd, env=env, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode == 0, proc.stderr[-3000:]
  got = json.loads(proc.stdout.splitlines()[-1])
  assert got["loader"] == str(folder / "idw_export.py")
  assert not set(got["modules"]) & set(ABSENT), got["modules"]
  np.testing.assert_array_equal(got["items"], want.items)
  assert np.all(want.items > 0)
  # The exported tower is StableHLO of the same computation: equal to float32 rounding.
  np.testing.assert_allclose(np.float32(got["scores"]), want.scores, rtol=1e-6, atol=1e-6)
  # And bit for bit what the package's loader gives from the same folder.
  np.testing.assert_array_equal(np.float32(got["scores"]), export.load(folder).top_k(
      [history], k=k).scores)
