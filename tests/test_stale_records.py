"""No silent wrong answer from records: `tables` and `significance` use exactly the records the
grid accepts (cache.stale_reason through cache.accepted_rows), data fingerprints are checked, a
swept grid's points are compared one by one, and damaged or missing files are named.

Every test here failed on the code before this check existed (b1b817b); each says what it
reproduces. They use hand-made records (tests/handmade.py) and no training.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from idw_jax.experiments import cache
from idw_jax.experiments import grid
from idw_jax.experiments import records
from idw_jax.experiments import significance as sig
from idw_jax.experiments import specs as specs_lib
from idw_jax.experiments import tables
from tests import handmade

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("table.md", "table.csv", "fig5.md", "fig5.png")


def _grid(out: Path, methods=("sur", "mur"), seeds=(0, 1, 2), **kw):
  specs = specs_lib.make_specs(handmade.SYNTHETIC, list(methods), list(seeds))
  return specs, handmade.grid_folder(out, specs, **kw)


def _copy_committed(folder: str, to: Path):
  """A clone's view of results/<folder>: its grid.json and records/."""
  shutil.copytree(ROOT / "results" / folder / "records", to / "records")
  shutil.copy(ROOT / "results" / folder / "grid.json", to / "grid.json")


def _refused(capsys, code: int) -> list[str]:
  """The refusal lines of a command that returned `code` (stderr, one line each)."""
  assert code == 1
  return capsys.readouterr().err.strip().splitlines()


# ----------------------------------------------------------- issue 31.1: a stale record
@pytest.mark.parametrize("old_manifest", [False, True])
def test_tables_and_significance_refuse_a_record_the_grid_calls_stale(tmp_path, capsys,
                                                                      old_manifest):
  # Reproduces 31.1: one MUR record's config edited (learning rate, num_interests) and a
  # metric; `tables` averaged it in (MUR NDCG@20 62.80 +- 51.20, rc 0) and `significance`
  # exited 0. The grid itself calls it stale; now all three refuse it, naming the fields.
  # old_manifest: a grid.json written before manifests kept the config file and overrides
  # (the ~900 committed records): the other records of MUR disagree with it.
  specs, names = _grid(tmp_path, old_manifest=old_manifest)
  assert tables.rebuild(tmp_path) == 0
  before = {n: (tmp_path / n).read_bytes() for n in TABLES}
  path = handmade.edit_record(tmp_path, names[4], **{"config.train.learning_rate": 0.5,
                                                     "config.model.num_interests": 9,
                                                     "test.sampled.overall.NDCG@20": 150.0})
  capsys.readouterr()
  lines = _refused(capsys, tables.rebuild(tmp_path, force=True))
  assert str(path) in lines[0] and "stale" in lines[0], lines
  assert "train.learning_rate" in lines[0] and "model.num_interests" in lines[0], lines
  assert len(lines) == 2 and "no table written" in lines[1]
  assert {n: (tmp_path / n).read_bytes() for n in TABLES} == before
  lines = _refused(capsys, sig.run([str(tmp_path)]))
  assert str(path) in lines[0] and "train.learning_rate" in lines[0]
  assert not (tmp_path / "significance.md").exists()
  # The grid says the same of the same record (the one rule: cache.stale_reason).
  recs = grid.run_grid(specs, tmp_path, max_new_runs=0, echo=lambda s: None, write_tables=False)
  assert [r.status for r in recs] == ["cached"] * 4 + ["stale"] + ["cached"]
  assert str(path) in recs[4].error and "train.learning_rate" in recs[4].error


def test_the_issue_reproduction_on_the_committed_ml1m_records(tmp_path, capsys):
  # Reproduces 31.1 on a copy of results/ml1m (an old manifest): mur-paper-seed0's learning
  # rate and num_interests edited, and its NDCG@20 set to 150, gave MUR 62.80 +- 51.20, rc 0.
  _copy_committed("ml1m", tmp_path)
  path = handmade.edit_record(tmp_path, "mur-paper-seed0", **{
      "config.train.learning_rate": 0.02, "config.model.num_interests": 8,
      "test.sampled.overall.NDCG@20": 150.0})
  lines = _refused(capsys, tables.rebuild(tmp_path))
  assert len(lines) == 2 and str(path) in lines[0], lines
  assert "the other records of mur" in lines[0]
  assert "model.num_interests: 5 -> 8" in lines[0] and "train.learning_rate: 0.01 -> 0.02" in \
      lines[0]
  assert not (tmp_path / "table.md").exists()
  assert str(path) in _refused(capsys, sig.run([str(tmp_path)]))[0]


def test_an_old_manifest_record_whose_name_is_not_its_config_is_refused(tmp_path, capsys):
  # An old manifest cannot rebuild the spec; a lone record (no peer to compare with) whose
  # config contradicts its name (a written-out field) or its grid point is still refused.
  specs = specs_lib.make_specs(handmade.SYNTHETIC, ["mur_idw"], [0],
                               {"idw.wake_max_epochs": [0.25, 0.5]})
  names = handmade.grid_folder(tmp_path, specs, old_manifest=True)
  assert names[0].startswith("mur_idw-paper-seed0-wake_max_epochs0.25")
  assert tables.rebuild(tmp_path) == 0
  path = handmade.edit_record(tmp_path, names[0], **{"config.idw.wake_max_epochs": 0.5})
  capsys.readouterr()
  (line, _) = _refused(capsys, tables.rebuild(tmp_path))
  assert str(path) in line and "idw.wake_max_epochs = 0.5" in line, line
  handmade.edit_record(tmp_path, names[0], **{"config.idw.wake_max_epochs": 0.25,
                                              "config.model.num_interests": 7})
  handmade.grid_folder(tmp_path / "b", specs_lib.make_specs(
      handmade.SYNTHETIC, ["mur_idw"], [0], fixed={"model.num_interests": 3}),
      old_manifest=True)
  (name_b,) = [p.stem for p in (tmp_path / "b" / "records").glob("*.json")]
  assert "-num_interests3" in name_b
  handmade.edit_record(tmp_path / "b", name_b, **{"config.model.num_interests": 4})
  (line, _) = _refused(capsys, tables.rebuild(tmp_path / "b"))
  assert "its name says num_interests3" in line and "model.num_interests = 4" in line, line


def test_every_committed_grid_passes_the_check(tmp_path):
  # The committed records (old manifests) are what their grids accepted: none is refused, so
  # every committed table still rebuilds (the byte-identical rebuild is checked by hand).
  for manifest in sorted((ROOT / "results").glob("*/grid.json")):
    rows = records.rows_from_manifest(manifest.parent, with_ranks=False)
    assert cache.refusals(rows, manifest) == [], manifest


# ------------------------------------------------------------------ data fingerprints
def _fingerprint(data: bytes) -> str:
  return "sha256:" + hashlib.sha256(data).hexdigest()


def test_the_grid_calls_a_record_of_other_data_stale(tmp_path):
  # A record made from another data file (its data_fingerprint is not the file's now) was
  # cached as long as its config matched; now it is stale, in one line naming both.
  data = tmp_path / "seqs.txt"
  data.write_bytes(b"1 2 3 4\n2 3 4 5\n")
  (spec,) = specs_lib.make_specs(str(ROOT / "configs" / "ml1m.py"), ["mur"], [0],
                                 fixed={"data.path": str(data)})
  name = specs_lib.run_name(spec)
  out = tmp_path / "out"
  for stored, status in ((None, "cached"), (_fingerprint(data.read_bytes()), "cached"),
                         (_fingerprint(b"other data"), "stale")):
    extra = {} if stored is None else {"data_fingerprint": stored}
    records.write_record(out, name, handmade.results(spec, 40.0, **extra))
    (rec,) = grid.run_grid([spec], out, max_new_runs=0, echo=lambda s: None,
                           write_tables=False)
    assert rec.status == status, rec.error
  assert "\n" not in rec.error and "other data" in rec.error
  assert _fingerprint(b"other data")[:19] in rec.error
  assert _fingerprint(data.read_bytes())[:19] in rec.error


def test_tables_and_significance_refuse_a_table_of_mixed_data(tmp_path, capsys):
  # Records of one table row made from different data files were averaged together; now the
  # table is refused in one line naming both fingerprints and their files. Records without a
  # fingerprint (made before them) mix with any.
  _, names = _grid(tmp_path)
  handmade.edit_record(tmp_path, names[3], data_fingerprint="sha256:" + "a" * 64)
  assert tables.rebuild(tmp_path) == 0
  handmade.edit_record(tmp_path, names[4], data_fingerprint="sha256:" + "b" * 64)
  capsys.readouterr()
  (line, _) = _refused(capsys, tables.rebuild(tmp_path, force=True))
  assert "different data" in line and f"{names[3]}.json" in line and f"{names[4]}.json" in line
  assert "sha256:aaaa" in line and "sha256:bbbb" in line
  (line, _) = _refused(capsys, sig.run([str(tmp_path)]))
  assert "different data" in line
  # The --a/--b form too.
  rec = str(tmp_path / "records")
  assert sig.run([], a=f"{rec}/mur-*.json", b=f"{rec}/sur-*.json") == 1
  assert "different data" in capsys.readouterr().err


# ------------------------------------------------------ issue 31.3: a swept grid's points
def test_significance_compares_each_sweep_point_on_its_own(tmp_path, capsys):
  # Reproduces 31.3: on a swept grid (results/ml1m-fastv: --set=idw.wake_max_epochs=0.25,0.5)
  # significance kept one sweep point per method and seed, unlabelled, dropping the others.
  specs = specs_lib.make_specs(handmade.SYNTHETIC, ["mur", "mur_idw"], [0, 1, 2],
                               {"idw.wake_max_epochs": [0.25, 0.5]})
  gain = {0.25: 1.0, 0.5: 3.0}       # MUR-IDW's NDCG@20 over MUR's, per point, every seed
  handmade.grid_folder(tmp_path, specs, lambda s: 40.0 + s.seed + (
      gain[s.sweep["idw.wake_max_epochs"]] if s.method == "mur_idw" else 0.0))
  assert sig.run([str(tmp_path)]) == 0
  text = (tmp_path / "significance.md").read_text()
  first, second = text.split("### wake_max_epochs = 0.25")[1].split("### wake_max_epochs = 0.5")
  for part, diff in ((first, "+1.00"), (second, "+3.00")):
    assert f"| MUR-IDW | 3 | {diff} |" in part, part   # 3 seeds each, nothing pooled
  assert text.count("| MUR-IDW | 3 |") == 2 * 3        # the three metrics at both points
  capsys.readouterr()


@pytest.mark.slow
def test_significance_on_the_committed_fastv_grid_has_both_points(tmp_path, capsys):
  # The committed swept grid of the issue: one set of tables per point, each with 3 seeds.
  _copy_committed("ml1m-fastv", tmp_path)
  assert sig.run([str(tmp_path)], metric="NDCG@20") == 0
  text = (tmp_path / "significance.md").read_text()
  assert "### wake_max_epochs = 0.25" in text and "### wake_max_epochs = 0.5" in text
  assert text.count("| MUR-IDW | 3 |") == 4
  capsys.readouterr()


# ------------------------------------------------ issue 31.8: damaged and missing files
def test_a_truncated_record_is_named_in_one_line(tmp_path, capsys):
  # Reproduces 31.8: a truncated record stopped grid, tables and significance with "Expecting
  # ',' delimiter: line 146 column 32" and no file name.
  specs, names = _grid(tmp_path, methods=("mur",), seeds=(0,))
  path = records.record_path(tmp_path, names[0])
  path.write_text(path.read_text()[:200])
  assert tables.rebuild(tmp_path) == 1
  (line,) = capsys.readouterr().err.strip().splitlines()
  assert str(path) in line and "damaged JSON" in line
  assert sig.run([str(tmp_path)]) == 1
  (line,) = capsys.readouterr().err.strip().splitlines()
  assert str(path) in line and "damaged JSON" in line
  (rec,) = grid.run_grid(specs, tmp_path, max_new_runs=0, echo=lambda s: None,
                         write_tables=False)
  assert rec.status == "stale" and str(path) in rec.error and "damaged JSON" in rec.error
  assert len(path.read_text()) == 200   # never overwritten


def test_a_truncated_ranks_file_is_named_in_one_line(tmp_path, capsys):
  # Reproduces 31.8: a truncated .test_ranks.npz gave a BadZipFile traceback.
  _, names = _grid(tmp_path, seeds=(0, 1))
  path = handmade.ranks_path(tmp_path, names[2])
  path.write_bytes(path.read_bytes()[:50])
  assert sig.run([str(tmp_path)]) == 1
  (line,) = capsys.readouterr().err.strip().splitlines()
  assert str(path) in line and "damaged test ranks file" in line
  with pytest.raises(ValueError, match="damaged test ranks"):
    records.load_ranks(path)


def test_a_missing_ranks_file_is_explained(tmp_path, capsys):
  # Reproduces 31.8: a run without its ranks file gave "n/a" and no reason.
  _, names = _grid(tmp_path, seeds=(0, 1))
  missing = handmade.ranks_path(tmp_path, names[3])
  missing.unlink()
  assert sig.run([str(tmp_path)]) == 0
  text = (tmp_path / "significance.md").read_text()
  assert f"n/a (no test ranks: {missing} missing; runs made before ranks were saved)" in text
  assert "| SUR | 2 |" in text and "| n/a |" in text
  capsys.readouterr()


@pytest.mark.slow
def test_significance_of_the_committed_ml1m_grid_is_unchanged(tmp_path, capsys):
  # The committed table against MUR comes out byte for byte (no sweep, every ranks file).
  _copy_committed("ml1m", tmp_path)
  assert sig.run([str(tmp_path)]) == 0
  assert (tmp_path / "significance.md").read_bytes() == (
      ROOT / "results" / "ml1m" / "significance.md").read_bytes()
  capsys.readouterr()

