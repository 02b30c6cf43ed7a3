"""A run's identity: its config plus a fingerprint of its data, and the vocabulary it keeps.

A tiny MUR run on a small MovieLens-format file (raw item ids 10..59): the file's sha256 lands
in results.json, the checkpoints and vocab.json; renaming one item id afterwards (same counts,
every later dense id shifted by one) changes nothing a run that keeps its vocabulary serves,
and is an error, naming both fingerprints, where a run would have to rebuild it or resume.
"""

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idw_jax import checkpoints
from idw_jax import recommend
from tests.tiny import TINY_OVERRIDES

# Whole runs through launch.py processes (14 s of setup each on one core): the full suite's, not
# the fast subset's (docs/design.md, "The test suite").
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
HISTORY = "10 11 12 13 14"


def _ratings() -> str:
  """80 users x 15 events over items 10..59, each user mostly within one block of 10 items."""
  rng = np.random.default_rng(0)
  lines = []
  for u in range(1, 81):
    block = 10 + 10 * (u % 5)
    items = np.where(rng.random(15) < 0.8, rng.integers(block, block + 10, 15),
                     rng.integers(10, 60, 15))
    lines += [f"{u}::{i}::4::{1000 * u + t}" for t, i in enumerate(items)]
  return "\n".join(lines) + "\n"


def _launch(workdir, data, *extra):
  cmd = [sys.executable, str(ROOT / "launch.py"), f"--workdir={workdir}",
         "--config=" + str(ROOT / "configs/synthetic.py") + ":mur", *TINY_OVERRIDES,
         "--config.data.name=tinyml", "--config.data.source=movielens",
         f"--config.data.path={data}", "--config.data.use_tfds=False", *extra]
  return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                        env={**os.environ, "JAX_PLATFORMS": "cpu"})


@contextlib.contextmanager
def edited(path: Path, text: str):
  """The file holds `text` inside the block, its old bytes again after."""
  before = path.read_bytes()
  path.write_text(text)
  try:
    yield
  finally:
    path.write_bytes(before)


def _renamed(text: str) -> str:
  """Item 10 renamed 99: the same counts, every other item's dense id one lower."""
  return text.replace("::10::", "::99::")


def _sha256(path: Path) -> str:
  return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(workdir, **kw):
  err = io.StringIO()
  rec = recommend.load_run(workdir, echo=lambda msg, **_: print(msg, file=err), **kw)
  return [(e["item"], round(e["score"], 5)) for e in rec.top_k([HISTORY], k=5).rows()[0]["items"]
          ], err.getvalue()


def _metas(workdir: Path):
  """The checkpoints' JSON files (Orbax's JsonSave: <step>/meta/metadata)."""
  return sorted((workdir / "checkpoints").glob("*/meta/metadata"))


def _as_an_old_run(workdir: Path):
  """What a run made before this change holds: no vocab.json, no data fingerprint anywhere."""
  (workdir / "vocab.json").unlink(missing_ok=True)
  for path in _metas(workdir):
    meta = json.loads(path.read_text())
    meta.pop("data_fingerprint", None)
    path.write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """(data file, finished workdir, top-5 of HISTORY and stderr of load_run right after)."""
  folder = tmp_path_factory.mktemp("identity")
  data = folder / "data" / "ratings.dat"
  data.parent.mkdir()
  data.write_text(_ratings())
  proc = _launch(folder / "run", data)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return data, folder / "run", _rows(folder / "run")[0]


def test_a_run_stores_its_data_fingerprint_and_its_vocabulary(trained):
  # Reproduces: runs stored neither (results.json, checkpoints: counts only; no vocab.json).
  data, wd, _ = trained
  want = _sha256(data)
  assert json.loads((wd / "results.json").read_text())["data_fingerprint"] == want
  assert _metas(wd) and all(json.loads(p.read_text())["data_fingerprint"] == want
                            for p in _metas(wd))
  kept = json.loads((wd / "vocab.json").read_text())
  assert kept["dense_to_raw"] == [None, *range(10, 60)]      # readers: numeric order of raw ids
  assert (kept["num_items"], kept["data_fingerprint"]) == (50, want)
  meta, _ = checkpoints.read_finished_run(wd, "test")
  assert meta["data_fingerprint"] == want


def test_a_renamed_id_changes_nothing_a_run_with_its_vocabulary_serves(trained):
  # Reproduces: one item id renamed after training shifted every later dense id and changed
  # the top-5 (rc 0, no warning): the vocabulary was rebuilt from the edited file.
  data, wd, before = trained
  with edited(data, _renamed(data.read_text())):
    got, err = _rows(wd)
  assert got == before and err == ""
  assert before[0][0] in range(15, 60)                        # raw ids, not dense ones


def test_a_run_without_its_vocabulary_checks_the_data_fingerprint(trained, tmp_path):
  # Reproduces: a run that keeps no vocabulary rebuilt it from the renamed file and served
  # other items; now the fingerprints differ: one line naming both. The unchanged file rebuilds
  # it, and says so on stderr.
  data, wd, before = trained
  copy = tmp_path / "run"
  shutil.copytree(wd, copy)
  (copy / "vocab.json").unlink(missing_ok=True)
  stored = _sha256(data)
  with edited(data, _renamed(data.read_text())):
    now = _sha256(data)
    with pytest.raises(ValueError, match="was made from other data") as e:
      recommend.load_run(copy, echo=lambda *a, **k: None)
  line = str(e.value)
  assert "\n" not in line and stored[:19] in line and now[:19] in line and stored != now
  got, err = _rows(copy)
  assert got == before
  assert "keeps no vocabulary" in err and f"rebuilt it from {data}" in err
  assert len(err.strip().splitlines()) == 1


def test_an_old_run_without_results_is_checked_on_its_checkpoint_counts(trained, tmp_path):
  # Reproduces: with no results.json (an unfinished run) even the count check was skipped: a
  # run made before fingerprints served from a file with one more event, silently.
  data, wd, before = trained
  copy = tmp_path / "run"
  shutil.copytree(wd, copy)
  _as_an_old_run(copy)
  (copy / "results.json").unlink()
  with edited(data, data.read_text() + "1::11::4::999999\n"), pytest.raises(
      ValueError, match=r"trained on other data .*train_examples \d+ -> \d+"):
    recommend.load_run(copy, echo=lambda *a, **k: None)
  got, err = _rows(copy)                                       # the same file: rebuilt, said
  assert got == before and "keeps no vocabulary" in err


def test_data_root_finds_a_moved_file_behind_an_absolute_data_path(trained, tmp_path):
  # Reproduces: --data_root was ignored for an absolute data.path, so a run without its
  # vocabulary could not be served once its data folder had moved.
  data, wd, before = trained
  copy = tmp_path / "run"
  shutil.copytree(wd, copy)
  (copy / "vocab.json").unlink(missing_ok=True)
  moved = tmp_path / "moved"
  moved.mkdir()
  shutil.copy(data, moved / data.name)
  aside = data.with_name("away.dat")
  data.rename(aside)                                           # nothing at the run's data.path
  try:
    got, err = _rows(copy, data_root=str(moved))
  finally:
    aside.rename(data)
  assert got == before and f"rebuilt it from {moved / data.name}" in err


def test_resuming_on_changed_data_is_one_line_naming_both_fingerprints(trained, tmp_path):
  # Reproduces: a run resumed on a file with one id renamed (same counts) without a word. A
  # checkpoint from before fingerprints (none stored) still resumes, and the run ends with one.
  data, _, _ = trained
  wd = tmp_path / "run"
  proc = _launch(wd, data, "--config.debug.exit_after_save=2")
  assert proc.returncode == 42, proc.stderr[-2000:]
  stored = _sha256(data)
  with edited(data, _renamed(data.read_text())):
    proc = _launch(wd, data)
    now = _sha256(data)
  lines = proc.stderr.strip().splitlines()
  assert proc.returncode == 1 and len(lines) == 1 and "Traceback" not in proc.stderr
  assert "was made from other data" in lines[0] and stored[:19] in lines[0] and now[:19] in lines[0]
  for path in _metas(wd):                                      # as a checkpoint made before
    meta = json.loads(path.read_text())
    meta.pop("data_fingerprint", None)
    path.write_text(json.dumps(meta))
  proc = _launch(wd, data)
  assert proc.returncode == 0 and "resuming" in proc.stdout, proc.stderr[-2000:]
  assert json.loads((wd / "results.json").read_text())["data_fingerprint"] == stored
