"""Grid runner, tables and figures (idw_jax.experiments).

Table aggregation runs on hand-made results.json dicts (no training). The grid and figure tests
train tiny runs (config_lib.TINY_SWEEP) and share JAX's persistent compilation cache
(compilation_cache.DEFAULT, $IDW_JAX_CACHE), so only the first session on a machine compiles.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from idw_jax import config as config_lib
from idw_jax.experiments import cache
from idw_jax.experiments import cli as exp_cli
from idw_jax.experiments import figures
from idw_jax.experiments import grid
from idw_jax.experiments import plotting
from idw_jax.experiments import records
from idw_jax.experiments import search
from idw_jax.experiments import specs as specs_lib
from idw_jax.experiments import tables
from tests import handmade

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = str(ROOT / "configs" / "synthetic.py")
TINY = dict(config_lib.TINY_SWEEP)


# ------------------------------------------------------------------------- hand-made results
def _block(hr20, ndcg20, head=None, tail=None):
  """A test block {overall, head, tail} -> metrics; HR@5/NDCG@5 derived from the @20 values."""
  def split(hr, nd, count):
    return {"HR@5": hr / 2, "NDCG@5": nd / 2, "HR@20": hr, "NDCG@20": nd, "count": count}
  head = head or (hr20 + 10, ndcg20 + 10)
  tail = tail or (hr20 - 10, ndcg20 - 10)
  return {"overall": split(hr20, ndcg20, 100), "head": split(*head, 30),
          "tail": split(*tail, 70)}


def _results(method, seed, hr20, ndcg20, sampled=True, m=5, **kw):
  full = _block(hr20 - 20, ndcg20 - 20)
  return {"method": method, "seed": seed, "dataset": "toy", "silhouette": 0.1 * seed,
          "config": {"model": {"num_interests": m}},
          "test": {"sampled": _block(hr20, ndcg20, **kw) if sampled else None, "full": full}}


def _row(method, seed, hr20, ndcg20, sweep=None, **kw):
  return {"method": method, "seed": seed, "sweep": sweep or {},
          "results": _results(method, seed, hr20, ndcg20, **kw)}


def _toy_rows():
  return [
      _row("mur_idw", 0, 83.0, 50.0),                       # one seed: no std
      _row("mur", 0, 80.0, 47.0), _row("mur", 1, 81.0, 48.0), _row("mur", 2, 82.0, 46.0),
      _row("sur", 0, 79.0, 45.0, m=1), _row("sur", 1, 81.0, 47.0, m=1),
      {"method": "qmargin", "seed": 0, "sweep": {}, "results": None},   # not finished
  ]


def test_aggregate_mean_std_and_paper_order():
  entries = tables.aggregate(_toy_rows())
  assert [e["method"] for e in entries] == ["sur", "mur", "qmargin", "mur_idw"]
  by = {e["method"]: e for e in entries}
  assert [by[m]["n_seeds"] for m in ("sur", "mur", "qmargin", "mur_idw")] == [2, 3, 0, 1]
  mean, std = by["mur"]["stats"]["sampled"]["HR@20"]["overall"]
  assert mean == pytest.approx(81.0) and std == pytest.approx(1.0)      # sample std (ddof=1)
  mean, std = by["mur"]["stats"]["full"]["NDCG@20"]["tail"]
  assert mean == pytest.approx(47.0 - 30) and std == pytest.approx(1.0)
  mean, std = by["mur_idw"]["stats"]["sampled"]["NDCG@5"]["head"]
  assert mean == pytest.approx(30.0) and np.isnan(std)
  assert by["sur"]["num_interests"] == 1 and by["mur"]["num_interests"] == 5
  assert by["qmargin"]["stats"]["sampled"] is None


def test_markdown_bold_best_and_relative_rows():
  md = tables.tables_markdown(tables.aggregate(_toy_rows()), "toy")
  t1 = md.split("**Table 1**")[1].split("**Table 4**")[0]
  lines = [l for l in t1.splitlines() if l.startswith("| ")]
  assert lines[0] == "| Method | M | HR@20 | NDCG@20 | seeds |"
  assert lines[1].startswith("| SUR | 1 | 80.00 ± 1.41 | 46.00 ± 1.41 | 2 |")
  assert lines[2] == "| MUR | 5 | 81.00 ± 1.00 | 47.00 ± 1.00 | 3 |"
  assert lines[3] == "| MUR-IDW | 5 | **83.00** | **50.00** | 1 |"      # best, single seed
  assert lines[4].startswith("| MUR vs. SUR | - | +1.25% | +2.17% |")
  assert lines[5].startswith("| MUR-IDW vs. SUR | - | +3.75% | +8.70% |")
  assert "sampled ranking" in md and "full-corpus ranking" in md          # both protocols
  t4 = md.split("**Table 4**")[1]
  assert "| Method | M | HR@5 | NDCG@5 | seeds |" in t4 and "**41.50**" in t4
  assert "No finished run yet: qmargin" in md


def test_csv_columns_and_values(tmp_path):
  path = tables.write_csv(tables.aggregate(_toy_rows()), tmp_path / "table.csv")
  with open(path) as fh:
    reader = csv.DictReader(fh)
    rows = {r["method"]: r for r in reader}
    header = reader.fieldnames
  assert header[:2] == ["method", "n_seeds"]
  metrics = [f"{m}_{s}_{x}" for m in ("HR@5", "NDCG@5", "HR@20", "NDCG@20")
             for s in ("overall", "head", "tail") for x in ("mean", "std")]
  assert header[2:] == metrics + ["full_" + c for c in metrics]
  assert list(rows) == ["sur", "mur", "qmargin", "mur_idw"]
  assert rows["mur"]["n_seeds"] == "3"
  assert float(rows["mur"]["HR@20_overall_mean"]) == pytest.approx(81.0)
  assert float(rows["mur"]["HR@20_overall_std"]) == pytest.approx(1.0)
  assert float(rows["mur"]["full_HR@20_head_mean"]) == pytest.approx(71.0)
  assert rows["mur_idw"]["HR@20_overall_std"] == ""                      # one seed
  assert rows["qmargin"]["HR@20_overall_mean"] == "" and rows["qmargin"]["n_seeds"] == "0"


def test_full_only_dataset_and_sweep_groups(tmp_path):
  rows = [_row(m, s, 40.0 + 10 * e + (5 if m == "mur_idw" else 0) + s, 20.0,
               sweep={"cluster_exponent": e}, sampled=False)
          for e in (0.0, 2.0) for m in ("mur", "mur_idw") for s in (0, 1)]
  written = tables.write_all(rows, tmp_path)
  assert {p.name for p in written} == {"table.md", "table.csv", "fig5.md", "fig5.png"}
  md = (tmp_path / "table.md").read_text()
  assert "## cluster_exponent = 0.0" in md and "## cluster_exponent = 2.0" in md
  assert "sampled ranking" not in md and "full-corpus ranking" in md
  with open(tmp_path / "table.csv") as fh:
    got = list(csv.DictReader(fh))
  assert [(r["cluster_exponent"], r["method"]) for r in got] == [
      ("0.0", "mur"), ("0.0", "mur_idw"), ("2.0", "mur"), ("2.0", "mur_idw")]
  assert all(r["HR@20_overall_mean"] == "" for r in got)              # no sampled protocol
  assert float(got[3]["full_HR@20_overall_mean"]) == pytest.approx(65.5 - 20)


def test_fig5_relative_to_mur(tmp_path):
  rows = [_row("mur", 0, 80.0, 40.0, head=(90.0, 60.0), tail=(50.0, 20.0)),
          _row("mur_idw", 0, 82.0, 44.0, head=(90.0, 57.0), tail=(60.0, 25.0))]
  groups = tables.fig5_entries(tables.aggregate(rows))
  rel = {r["method"]: r["relative"] for r in groups[0]["rows"]}
  assert rel["mur"] == {"overall": 0.0, "head": 0.0, "tail": 0.0}
  assert rel["mur_idw"]["overall"] == pytest.approx(10.0)
  assert rel["mur_idw"]["head"] == pytest.approx(-5.0)
  assert rel["mur_idw"]["tail"] == pytest.approx(25.0)
  md = tables.fig5_markdown(groups)
  assert "| MUR-IDW | 44.00 (+10.0%) | 57.00 (-5.0%) | 25.00 (+25.0%) |" in md
  assert plotting.fig5(groups, tmp_path / "f.png", "t").stat().st_size > 0


def test_tables_cli_never_overwrites_with_fewer_runs(tmp_path, capsys):
  """Results come from records, else run folders; fewer finished runs than table.csv: refused."""
  specs = specs_lib.make_specs(SYNTHETIC, ["mur", "mur_idw"], [0, 1])[:3]
  handmade.grid_folder(tmp_path, specs, ranks=False)
  for spec in specs:   # (HR@20 = 80 + seed)
    handmade.edit_record(tmp_path, specs_lib.run_name(spec),
                         **{"test.sampled.overall.HR@20": 80.0 + spec.seed})
  (tmp_path / "runs" / "mur-paper-seed1").mkdir(parents=True)
  folder_results = handmade.results(specs[1], 40.0)
  folder_results["test"]["sampled"]["overall"]["HR@20"] = 90.0
  (tmp_path / "runs" / "mur-paper-seed1" / "results.json").write_text(json.dumps(folder_results))

  def table():
    with open(tmp_path / "table.csv") as fh:
      return {r["method"]: (r["n_seeds"], r["HR@20_overall_mean"]) for r in csv.DictReader(fh)}

  main = lambda force=False: tables.rebuild(tmp_path, force)
  assert main() == 0 and table() == {"mur": ("2", "80.5000"), "mur_idw": ("1", "80.0000")}
  printed = capsys.readouterr()                      # the table itself; the files on stderr
  assert printed.out == (tmp_path / "table.md").read_text()
  assert "| MUR | 5 | **80.50 ± 0.71** | **40.50 ± 0.71** | 2 |" in printed.out   # 80, 81
  assert printed.err.strip() == "tables: wrote " + ", ".join(
      str(tmp_path / n) for n in ("table.md", "table.csv", "fig5.md", "fig5.png"))
  (tmp_path / "records" / "mur-paper-seed1.json").unlink()   # then the run folder's results.json
  assert main() == 0 and table()["mur"] == ("2", "85.0000")
  before = {n: (tmp_path / n).read_bytes() for n in ("table.md", "table.csv", "fig5.md")}
  shutil.rmtree(tmp_path / "runs")
  capsys.readouterr()
  assert main() == 1
  err = capsys.readouterr().err
  assert len(err.strip().splitlines()) == 1 and "found 2 finished" in err and "holds 3" in err
  assert {n: (tmp_path / n).read_bytes() for n in before} == before
  assert main(force=True) == 0 and table()["mur"] == ("1", "80.0000")


# ------------------------------------------------------------- runs from older code versions
@pytest.mark.parametrize("pack,status", [(False, "cached"), (True, "stale")])
def test_run_written_before_a_field_existed_is_cached_at_its_default(tmp_path, pack, status):
  """results.json without train.pack_windows (added later, default False) matches False only."""
  spec = specs_lib.make_specs(SYNTHETIC, ["mur"], [0], None, {"train.pack_windows": pack})[0]
  old = specs_lib.make_specs(SYNTHETIC, ["mur"], [0])[0].config().to_dict()
  del old["train"]["pack_windows"]
  rec = cache.RunRecord(spec, "run", tmp_path)
  (tmp_path / "results.json").write_text(json.dumps({"config": old}, default=str))
  assert cache.read_cached(rec, spec.config())
  assert rec.status == status, rec.error


# ------------------------------------------------------------------------------ run naming
def test_run_names_follow_the_resolved_config():
  name = lambda specs: [specs_lib.run_name(s) for s in specs]
  plain = name(specs_lib.make_specs(SYNTHETIC, ["mur", "mur_idw"], [0]))
  assert plain == ["mur-paper-seed0", "mur_idw-paper-seed0"]
  # A swept value equal to the method's default is the same run; idw.* does not touch MUR.
  same = name(specs_lib.make_specs(SYNTHETIC, ["mur"], [0], {"model.num_interests": [5]},
                              {"idw.eta": 1e-4}))
  assert same == ["mur-paper-seed0"]
  specs = specs_lib.make_specs(SYNTHETIC, ["mur", "mur_idw"], [1], {"idw.eta": [1e-4, 4e-4]})
  assert name(specs) == ["mur-paper-seed1", "mur_idw-paper-seed1-eta0.0001",
                         "mur-paper-seed1", "mur_idw-paper-seed1"]
  assert [s.sweep for s in specs[:2]] == [{"idw.eta": 1e-4}] * 2     # MUR joins each group
  tiny = name(specs_lib.make_specs(SYNTHETIC, ["sur"], [0],
                                   {"data.synthetic.cluster_exponent": [2]}, TINY))
  fixed = name(specs_lib.make_specs(SYNTHETIC, ["sur"], [0], None, TINY))
  assert tiny == fixed and tiny[0].startswith("sur-paper-seed0-cluster_exponent2-h")
  other = name(specs_lib.make_specs(SYNTHETIC, ["sur"], [0], None,
                                    {**TINY, "train.max_epochs": 2}))
  assert other != tiny
  with pytest.raises(KeyError, match="no field"):
    specs_lib.make_specs(SYNTHETIC, ["sur"], [0], None, {"train.max_epoch": 2})[0].config()


def test_cli_value_parsing():
  assert exp_cli.parse_sweep(["data.synthetic.cluster_exponent=0,0.5,2", "idw.calibrate=True,false"]
                          ) == {"data.synthetic.cluster_exponent": [0, 0.5, 2],
                                "idw.calibrate": [True, False]}
  assert exp_cli.parse_seeds("0-2,5") == [0, 1, 2, 5]
  assert exp_cli.parse_seeds(" 3 , -1") == [3, -1]          # a negative seed is not a range
  for bad, words in (("3-1", "is empty"), ("0-x", "'0-x' is not a seed"), (",", "no seed")):
    with pytest.raises(ValueError, match=words):
      exp_cli.parse_seeds(bad)
  assert exp_cli.parse_numbers("0.7, 1,4e-4", "--momenta") == [0.7, 1.0, 4e-4]
  as_written = exp_cli.parse_numbers("1,2,0.5", "--values", as_written=True)
  assert as_written == [1, 2, 0.5] and [type(v) for v in as_written] == [int, int, float]
  for bad in ("0.7,abc", "True", "0.7,"):
    with pytest.raises(ValueError, match="--momenta: .* is not a number"):
      exp_cli.parse_numbers(bad, "--momenta")
  assert exp_cli.parse_methods("all")[0] == "sur" and len(exp_cli.parse_methods("all")) == 9


def test_grid_config_arg_tiny_reaches_every_run():
  """`grid --config=<file>:mur,tiny`: the tiny fields reach the runs (the specs are built from
  the file alone and used to drop the word); an explicit --config.a.b=v still wins."""
  fixed = exp_cli.fixed_overrides("mur, tiny", {"train.max_epochs": 3})
  (spec,) = specs_lib.make_specs(SYNTHETIC, ["mur"], [0], fixed=fixed)
  cfg, full = spec.config(), config_lib.base_config()
  assert cfg.data.synthetic.num_users == config_lib.TINY["data.synthetic.num_users"]
  assert cfg.data.synthetic.num_users != full.data.synthetic.num_users
  assert cfg.train.max_epochs == 3 != config_lib.TINY["train.max_epochs"]
  assert exp_cli.fixed_overrides("mur,authors_code", {}) == {}


def test_grid_finds_a_record_by_its_config_under_another_name(tiny_grid, tmp_path):
  """Run names follow the preset's defaults: a record written under another name (e.g. before
  a preset change) is found by its config; a stale record of the run's own name yields to it;
  with no record of the config the stale one is still reported, and nothing is recomputed."""
  (spec,) = specs_lib.make_specs(SYNTHETIC, ["mur"], [0], fixed=TINY)
  name = specs_lib.run_name(spec)
  made = records.record_path(tiny_grid[0], name)          # the session grid ran this spec
  folder = tmp_path / "records"                           # a fresh clone: records only
  folder.mkdir()
  shutil.copy(made, folder / "mur-old-name.json")
  (rec,) = grid.run_grid([spec], tmp_path, max_new_runs=0, write_tables=False)
  assert (rec.status, rec.name) == ("cached", "mur-old-name")
  assert rec.results["test"] == json.loads(made.read_text())["test"]

  other = json.loads((folder / "mur-old-name.json").read_text())
  other["config"]["train"]["max_epochs"] += 1             # another config under the run's name
  (folder / f"{name}.json").write_text(json.dumps(other))
  (rec,) = grid.run_grid([spec], tmp_path, max_new_runs=0, write_tables=False)
  assert (rec.status, rec.name) == ("cached", "mur-old-name")

  (folder / "mur-old-name.json").unlink()
  (rec,) = grid.run_grid([spec], tmp_path, max_new_runs=0, write_tables=False)
  assert (rec.status, rec.name) == ("stale", name) and "max_epochs" in rec.error
  assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# ------------------------------------------------- committed folders: written only when named
def _git_repo(root: Path) -> Path:
  """A git checkout at `root` whose results/synthetic holds a committed grid (one MUR record, the
  run `grid --config=<synthetic> --methods=mur --seeds=0` asks for) and whose results/mine holds
  an untracked file."""
  def git(*args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root,
                   check=True, capture_output=True)
  root.mkdir()
  git("init", "-q")
  handmade.grid_folder(root / "results" / "synthetic", specs_lib.make_specs(SYNTHETIC, ["mur"],
                                                                             [0]), ranks=False)
  git("add", "results")
  git("commit", "-q", "-m", "results")
  (root / "results" / "mine").mkdir()
  (root / "results" / "mine" / "notes.txt").write_text("not added")
  return root


def test_a_committed_folder_is_one_git_tracks_a_file_in(tmp_path, monkeypatch):
  repo = _git_repo(tmp_path / "repo")
  assert exp_cli.is_committed(repo / "results" / "synthetic")
  assert exp_cli.is_committed(repo / "results")
  assert not exp_cli.is_committed(repo / "results" / "mine")       # untracked files only
  assert not exp_cli.is_committed(repo / "results" / "none")       # no such folder
  (tmp_path / "plain").mkdir()
  assert not exp_cli.is_committed(tmp_path / "plain")              # no git checkout
  monkeypatch.chdir(repo)                                          # relative to the cwd
  assert exp_cli.is_committed("results/synthetic")
  with pytest.raises(ValueError) as e:
    exp_cli.refuse_committed_defaults({"--out": "results/mine",
                                       "--table": "results/synthetic/t.md"})
  assert len(str(e.value).splitlines()) == 1
  assert "--table=results/synthetic/t.md" in str(e.value) and "--out" not in str(e.value)
  exp_cli.refuse_committed_defaults({"--out": "results/mine"})   # not committed: fine


@pytest.mark.slow      # grid processes
def test_grid_writes_into_a_committed_folder_only_when_out_names_it(tmp_path):
  repo = _git_repo(tmp_path / "repo")
  committed = repo / "results" / "synthetic"
  before = sorted(p.name for p in committed.iterdir())
  cmd = [sys.executable, "-m", "idw_jax.experiments.grid", f"--config={SYNTHETIC}",
         "--methods=mur", "--seeds=0", "--compilation_cache="]
  run = lambda *extra: subprocess.run(cmd + list(extra), cwd=repo, capture_output=True,
                                      text=True, timeout=300,
                                      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  proc = run()                                     # default --out=results/synthetic: refused
  assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  (line,) = proc.stderr.strip().splitlines()
  assert "committed folder" in line and "pass --out=results/synthetic to add" in line
  assert sorted(p.name for p in committed.iterdir()) == before     # nothing written
  proc = run("--out=results/synthetic")            # named: the committed record is read
  assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
  assert " cached " in proc.stdout and (committed / "table.md").is_file()
  # A default folder that is not committed is still the default (nothing trains here).
  proc = run("--config.data.name=mine", "--max_new_runs=0")
  assert "under results/mine/runs" in proc.stdout, proc.stdout + proc.stderr[-2000:]


# -------------------------------------------------------------------- a real, interrupted grid
def _mtime(path: Path) -> int:
  return path.stat().st_mtime_ns


@pytest.mark.slow      # the grid command, killed inside its second run, then rerun
def test_grid_interrupted_and_rerun(tmp_path):
  """Kill the grid CLI inside its second run, rerun: finished runs are not recomputed."""
  out = tmp_path / "grid"
  fixed = TINY
  specs = specs_lib.make_specs(SYNTHETIC, ["mur", "freq_balance"], [0, 1], fixed=fixed)
  names = [specs_lib.run_name(s) for s in specs]
  overrides = [f"--config.{k}={v}" for k, v in fixed.items()]
  cmd = [sys.executable, "-m", "idw_jax.experiments.grid", f"--config={SYNTHETIC}",
         "--methods=mur,freq_balance", "--seeds=0,1", f"--out={out}", *overrides]
  proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True)
  ckpt = out / "runs" / names[1] / "checkpoints"
  deadline = time.time() + 240
  while time.time() < deadline and proc.poll() is None:
    if ckpt.is_dir() and any(p.name.isdigit() for p in ckpt.iterdir()):
      os.killpg(proc.pid, signal.SIGKILL)
      break
    time.sleep(0.02)
  log = proc.communicate(timeout=60)[0].decode()
  assert proc.returncode == -signal.SIGKILL, log
  assert log.splitlines()[1].startswith("[1/4] mur seed=0") and " done " in log, log
  results = [out / "runs" / n / "results.json" for n in names]
  assert results[0].exists() and not results[2].exists()
  stamps = {0: _mtime(results[0])}
  second_done = results[1].exists()        # (the kill can land just after run 2 finished)

  # Rerun with a budget of one new run: run 1 is read back, run 2 continues from its checkpoint.
  lines = []
  recs = grid.run_grid(specs, out, max_new_runs=1, echo=lines.append)
  assert [r.name for r in recs] == names
  assert recs[0].status == "cached" and _mtime(results[0]) == stamps[0]
  if not second_done:
    assert [r.status for r in recs[1:]] == ["resumed", "not run", "not run"], lines
    assert "resuming" in (recs[1].workdir / "log.txt").read_text()
  stamps[1] = _mtime(results[1])
  assert lines[0].startswith("[1/4] mur seed=0") and "cached" in lines[0] and "HR@20" in lines[0]
  with open(out / "table.csv") as fh:
    got = [(r["method"], r["n_seeds"]) for r in csv.DictReader(fh)]
  assert got[0] == ("mur", "2")

  # And again: only the runs never finished are computed; the table is complete.
  recs = grid.run_grid(specs, out, echo=lines.append)
  assert [r.status for r in recs[:2]] == ["cached", "cached"]
  assert all(r.status in ("done", "resumed") for r in recs[2:]), lines
  assert {i: _mtime(results[i]) for i in stamps} == stamps
  with open(out / "table.csv") as fh:
    assert [(r["method"], r["n_seeds"]) for r in csv.DictReader(fh)] == [
        ("mur", "2"), ("freq_balance", "2")]
  manifest = json.loads((out / "grid.json").read_text())
  assert [r["name"] for r in manifest["runs"]] == names
  assert [r["n_seeds"] for r in tables.aggregate(records.rows_from_manifest(out))] == [2, 2]


# --------------------------------------------------------------------------- tiny figures
@pytest.fixture(scope="module")
def tiny_ctx(tmp_path_factory):
  out = tmp_path_factory.mktemp("figures")
  return figures.Context(config_file=SYNTHETIC, tiny=True, out=out, echo=lambda s: None)


# The figures over sweeps of runs are slow; the others share those runs when both run.
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in ("fig1", "fig3", "fig6") else n
    for n in figures.FIGURES])
@pytest.mark.slow
def test_figure_tiny(name, tiny_ctx):
  paths = figures.FIGURES[name](tiny_ctx)
  png = [p for p in paths if p.suffix == ".png"]
  assert png and png[0].name == f"{name}_synthetic.png"
  assert png[0].parent == tiny_ctx.out / "tiny"     # never beside the full-size figures
  with open(png[0], "rb") as fh:
    assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
  assert json.loads(tiny_ctx.path(name, "json").read_text())
  # Figures share a runs folder with the grid: they must not replace its table manifest.
  assert not (tiny_ctx.runs_dir() / "grid.json").exists()


@pytest.mark.slow      # fig3's runs and as many control runs
def test_fig3_controls_hold_the_weights_for_as_many_wake_phases(tiny_ctx):
  """--controls adds, per IDW run, the m = 1 control: the same seed and skew, as many wake
  phases, and weights that never move (so its wake phases are plain training)."""
  ctx = dataclasses.replace(tiny_ctx, controls=True, methods=("mur_idw",), seeds=(0, 1))
  figures.fig3(ctx)
  drawn = json.loads(ctx.path("fig3", "json").read_text())
  assert set(drawn) == {"mur_idw", "mur_idw_control"}
  assert (drawn["mur_idw_control"]["overall/HR@20"].keys()
          == drawn["mur_idw"]["overall/HR@20"].keys())
  key = "data.synthetic.cluster_exponent"
  runs = ctx.run(["mur_idw"], {key: [0.0, 2.0]})
  controls = figures._controls(ctx, runs, key)
  assert len(controls) == len(runs) == 4
  for run in runs:
    (ctl,) = [c for c in controls if c.spec.seed == run.spec.seed
              and c.spec.sweep[key] == run.spec.sweep[key]]
    assert ctl.status == "cached"                       # the figure ran it already
    assert ctl.spec.sweep["idw.momentum"] == 1.0 and ctl.spec.sweep["idw.eta"] == 0.0
    assert search.wake_phases(ctl.results) == search.wake_phases(run.results) >= 1
    assert all(t["weight_change"] == 0.0 for t in ctl.results["idw_trace"])
    assert any(t["weight_change"] > 0.0 for t in run.results["idw_trace"])


@pytest.mark.slow      # the figures command end to end (fig9 itself: test_figure_tiny)
def test_figures_cli_fig9(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "idw_jax.experiments.figures", "fig9", "--tiny", f"--out={tmp_path}",
       "--config.data.synthetic.num_users=200"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert (tmp_path / "tiny" / "fig9_synthetic.png").stat().st_size > 0   # --tiny: own folder


@pytest.mark.slow
def test_grid_reuses_the_base_runs_pretraining(tmp_path):
  """mur_idw listed first still runs after mur and starts from its finished run."""
  specs = specs_lib.make_specs(SYNTHETIC, ["mur_idw", "mur"], [0], fixed=TINY)
  lines = []
  recs = grid.run_grid(specs, tmp_path, echo=lines.append, write_tables=False)
  assert lines[0].startswith("[2/2] mur seed=0"), lines
  idw, base = recs
  assert idw.status == "done" and idw.results["pretrained_from"] == str(base.workdir.absolute())
  assert "idw.pretrained_workdir" in (idw.workdir / "launch_command.txt").read_text()
  assert "pretraining reused" in (idw.workdir / "log.txt").read_text()
  assert base.results["pretrained_from"] is None
  # Cached on the next call although its config names where the pretraining came from.
  assert [r.status for r in grid.run_grid(specs, tmp_path, echo=lines.append,
                                          write_tables=False)] == ["cached", "cached"]


def test_a_config_arg_variant_is_applied_as_launch_py_applies_it_or_refused():
  # configs/ml1m_loo.py:sasrec in a grid used to run the paper variant silently.
  from idw_jax import api
  from idw_jax.experiments import cli as exp_cli
  assert exp_cli.fixed_overrides("mur,paper", {"seed": 1}) == {"seed": 1}
  assert exp_cli.fixed_overrides("tiny", {})["train.max_epochs"] == 2
  with pytest.raises(ValueError, match="not 'sasrec'"):       # no preset named: no variants
    exp_cli.fixed_overrides("sur,sasrec", {})
  loo = str(ROOT / "configs" / "ml1m_loo.py")
  with pytest.raises(ValueError, match="not 'sasrc'"):
    exp_cli.fixed_overrides("sur,sasrc", {}, "user_sequences", loo)
  # The grid's overrides on the method's config give launch.py's config, field by field; the
  # --config.a.b=v flags come last.
  for arg, flags in (("sur,sasrec", {}), ("sur,sasrec,tiny", {}),
                     ("mur,sasrec", {"train.patience": 3})):
    fixed = exp_cli.fixed_overrides(arg, flags, "user_sequences", loo)
    method = arg.split(",")[0]
    words = arg.split(",")
    got = api.get_config("ml1m_loo", method, overrides=fixed)
    want = api.get_config("ml1m_loo", method, variants=["sasrec"], tiny="tiny" in words,
                          overrides=flags)
    assert got.to_dict() == want.to_dict(), arg
  assert fixed["model.embed_dim"] == 50 and fixed["train.patience"] == 3


def test_tiny_figures_on_real_data_keep_its_first_users(tmp_path):
  ml1m = str(ROOT / "configs" / "ml1m.py")
  fixed = figures.Context(config_file=ml1m, tiny=True, out=tmp_path).fixed
  assert fixed["data.protocol.max_users"] == 200 and fixed["data.use_tfds"] is False
  assert fixed["train.max_epochs"] == 1                              # TINY_SWEEP's
  synthetic = figures.Context(config_file=SYNTHETIC, tiny=True, out=tmp_path).fixed
  assert synthetic == config_lib.TINY_SWEEP
