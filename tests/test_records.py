"""Run records (<out>/records/<name>.json): what a fresh clone of the repository knows of a grid.

A clone has the committed records and grid.json but no runs/ (git-ignored): the grid must treat
a record as a finished run, rebuild the same tables from it, report a record of another config
as stale, and let an IDW run whose base run is only a record pretrain itself. The training tests
share the session's tiny grid (tests/conftest.py: config_lib.TINY_SWEEP) and JAX's persistent
compilation cache.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from idw_jax import config as config_lib
from idw_jax.experiments import cache
from idw_jax.experiments import grid
from idw_jax.experiments import records
from idw_jax.experiments import specs as specs_lib
from idw_jax.experiments import tables

SYNTHETIC = str(Path(__file__).resolve().parents[1] / "configs" / "synthetic.py")
TINY = dict(config_lib.TINY_SWEEP)
TABLES = ("table.md", "table.csv", "fig5.md", "fig5.png")


def _clone(out: Path, to: Path) -> Path:
  """A fresh clone's view of `out`: its records/ and grid.json, no runs/ and no tables."""
  shutil.copytree(out / "records", to / "records")
  shutil.copy(out / "grid.json", to / "grid.json")
  return to


@pytest.fixture
def finished(tiny_grid):
  """A finished tiny grid (the session's: sur and mur, seed 0): its folder and specs."""
  out, specs = tiny_grid
  assert specs == specs_lib.make_specs(SYNTHETIC, ["sur", "mur"], [0], fixed=TINY)
  return out, specs


def test_a_fresh_clone_recomputes_nothing_and_rebuilds_the_same_tables(finished, tmp_path):
  out, specs = finished
  names = [specs_lib.run_name(s) for s in specs]
  assert sorted(p.name for p in (out / "records").iterdir()) == sorted(
      f"{n}{ext}" for n in names for ext in (".json", ".test_ranks.npz"))
  for name in names:   # the record is the run's results.json (no checkpoints)
    record = json.loads(records.record_path(out, name).read_text())
    assert record == json.loads((out / "runs" / name / "results.json").read_text())
    assert record["config"]["method"] == name.split("-")[0] and record["history"]
    # Its test ranks, one per window, give back the recorded metrics (paired tests use them).
    ranks = np.load(out / "records" / f"{name}.test_ranks.npz")["full"].astype(np.int64)
    overall = record["test"]["full"]["overall"]
    assert ranks.size == overall["count"]
    np.testing.assert_allclose(100 * np.mean(ranks < 20), overall["HR@20"], rtol=1e-12)
    np.testing.assert_allclose(100 * np.mean(np.where(ranks < 20, 1 / np.log2(ranks + 2), 0)),
                               overall["NDCG@20"], rtol=1e-12)

  clone = _clone(out, tmp_path / "clone")
  lines = []
  recs = grid.run_grid(specs, clone, echo=lines.append)
  assert [r.status for r in recs] == ["cached", "cached"], lines
  assert not (clone / "runs").exists()                 # nothing computed, no run folder made
  for name in TABLES:
    assert (clone / name).read_bytes() == (out / name).read_bytes(), name
  # The tables CLI on the clone reads the records too (the manifest's run folders are elsewhere).
  for name in TABLES:
    (clone / name).unlink()
  assert tables.rebuild(clone) == 0
  for name in TABLES:
    assert (clone / name).read_bytes() == (out / name).read_bytes(), name


def test_a_finished_run_folder_without_a_record_gets_one(finished, tmp_path):
  out, specs = finished
  shutil.copytree(out / "runs", tmp_path / "runs")          # runs finished before records existed
  recs = grid.run_grid(specs, tmp_path, echo=lambda s: None, write_tables=False)
  assert [r.status for r in recs] == ["cached", "cached"]
  for rec in recs:
    assert records.record_path(tmp_path, rec.name).read_bytes() == \
        records.record_path(out, rec.name).read_bytes()


def test_a_record_of_another_config_is_stale(tmp_path):
  spec = specs_lib.make_specs(SYNTHETIC, ["mur"], [0], fixed=TINY)[0]
  name = specs_lib.run_name(spec)
  cfg = spec.config().to_dict()
  records.write_record(tmp_path, name, {"config": cfg, "test": {}})
  assert [r.status for r in grid.run_grid([spec], tmp_path, max_new_runs=0,
                                          echo=lambda s: None, write_tables=False)] == ["cached"]
  cfg["train"]["max_epochs"] = 3
  records.write_record(tmp_path, name, {"config": cfg, "test": {}})
  # A matching results.json in the run folder does not count: the record is read first.
  (tmp_path / "runs" / name).mkdir(parents=True)
  (tmp_path / "runs" / name / "results.json").write_text(
      json.dumps({"config": spec.config().to_dict()}, default=str))
  lines = []
  (rec,) = grid.run_grid([spec], tmp_path, max_new_runs=0, echo=lines.append,
                         write_tables=False)
  assert rec.status == "stale" and rec.results is None
  assert rec.error == (f"its record {records.record_path(tmp_path, name)} holds another config "
                       "(train.max_epochs: 3 -> 1); delete it to rerun"), rec.error
  assert rec.error in lines[0]


def test_pretraining_is_reused_only_from_a_run_folder_with_checkpoints(tmp_path):
  idw = specs_lib.make_specs(SYNTHETIC, ["mur_idw"], [0], fixed=TINY)[0]
  base = specs_lib.base_run(idw)
  workdir = tmp_path / specs_lib.run_name(base)
  workdir.mkdir()
  (workdir / "results.json").write_text(json.dumps({"config": base.config().to_dict()},
                                                   default=str))
  assert cache.pretrained_workdir(idw, tmp_path) is None
  (workdir / "checkpoints" / "7").mkdir(parents=True)
  assert cache.pretrained_workdir(idw, tmp_path) == workdir


def test_an_idw_run_whose_base_is_only_a_record_pretrains_itself(finished, tmp_path):
  out, _ = finished
  clone = _clone(out, tmp_path)
  specs = specs_lib.make_specs(SYNTHETIC, ["mur_idw", "mur"], [0], fixed=TINY)
  lines = []
  idw, base = grid.run_grid(specs, clone, echo=lines.append, write_tables=False)
  assert base.status == "cached" and not base.workdir.exists(), lines
  assert idw.status == "done", (idw.error, lines)
  assert idw.results["pretrained_from"] is None and idw.results["idw_trace"]
  assert "pretrained_workdir" not in (idw.workdir / "launch_command.txt").read_text()
  assert json.loads(records.record_path(clone, idw.name).read_text()) == json.loads(
      (idw.workdir / "results.json").read_text())


def test_a_record_carries_both_ranks_files_of_its_run(tmp_path):
  # IDW runs with calibration also rank the test set before it: both files travel with the
  # record, byte for byte, and a run with only one gets only that one.
  import numpy as np
  run = tmp_path / "run"
  run.mkdir()
  np.savez_compressed(run / "test_ranks.npz", sampled=np.array([0, 3], np.uint16))
  np.savez_compressed(run / "test_ranks_before_calibration.npz",
                      sampled=np.array([1, 2], np.uint16))
  path = records.write_record(tmp_path / "out", "a", {"test": {}}, run)
  for name in ("test_ranks", "test_ranks_before_calibration"):
    copy = path.with_name(f"a.{name}.npz")
    assert copy.read_bytes() == (run / f"{name}.npz").read_bytes()
  (run / "test_ranks_before_calibration.npz").unlink()
  path = records.write_record(tmp_path / "out", "b", {"test": {}}, run)
  assert path.with_name("b.test_ranks.npz").exists()
  assert not path.with_name("b.test_ranks_before_calibration.npz").exists()
