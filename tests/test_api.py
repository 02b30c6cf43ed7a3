"""The Python API (idw_jax/api.py) against launch.py and recommend, the presets inside the
package, and a finished run's rerun (idw_jax/finished.py): no data read, the same lines."""

from __future__ import annotations

import importlib.util
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import idw_jax
from idw_jax import api
from idw_jax import config as config_lib
from idw_jax import configs
from idw_jax import driver
from idw_jax import recommend as recommend_lib
from idw_jax import run_data
from tests.tiny import RUN_FIELDS, RUN_OVERRIDES, copy_run, tiny_config

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}


def _config_file(stem: str):
  spec = importlib.util.spec_from_file_location(f"api_test_{stem}", ROOT / "configs" / f"{stem}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _launch(*flags, cwd=ROOT):
  return subprocess.run([sys.executable, str(ROOT / "launch.py"), *flags], cwd=cwd, env=ENV,
                        capture_output=True, text=True, timeout=600, check=False)


def test_every_config_file_is_a_registered_preset():
  files = sorted(p.stem for p in (ROOT / "configs").glob("*.py") if p.stem != "__init__")
  assert set(files) <= set(configs.names()), "a configs/*.py file that is not in the registry"
  for stem in files:
    for arg in (None, "sur", "mur_idw,authors_code,tiny"):
      assert _config_file(stem).get_config(arg).to_dict() == configs.get(stem, arg).to_dict()


def test_get_config_is_the_config_file_with_its_overrides():
  got = idw_jax.get_config("ml1m_loo", "sur", "authors_code", tiny=True, variants=["sasrec"],
                           overrides={"seed": 3, "train.max_epochs": "4",
                                      "model.item_mlp_dims": "(50, 50)"})
  want = _config_file("ml1m_loo").get_config("sur,authors_code,sasrec,tiny")
  want.seed, want.train.max_epochs = 3, 4       # what --config.seed=3 etc. set
  assert got.to_dict() == config_lib.finalize(want).to_dict()
  # hand-checked: sasrec's model, tiny's schedule (tiny wins), the preset's table values
  assert (got.model.embed_dim, got.train.batch_size, got.data.protocol.max_users) == (50, 32, 100)
  assert (got.train.max_epochs, got.model.num_interests, got.idw.stopping_norm) == (4, 1, "inf")


@pytest.mark.parametrize("overrides, message", [
    ({"train.max_epoch": 3}, "config.train.max_epoch: the config has no such field"),
    ({"nothing.here": 1}, "config.nothing.here: the config has no such field"),
    ({"seed.x": 1}, "config.seed.x: the config has no such field"),
    ({"train.max_epochs": "many"}, "config.train.max_epochs: 'many' is not of type int"),
    ({"train.learning_rate": -1.0}, "config.train.learning_rate: must be > 0"),
])
def test_a_bad_override_is_one_line_naming_the_field(overrides, message):
  with pytest.raises(ValueError) as e:
    idw_jax.get_config("synthetic", "mur", overrides=overrides)
  assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_the_config_is_locked_and_an_unknown_preset_is_named():
  cfg = idw_jax.get_config("synthetic", "mur")
  with pytest.raises(AttributeError, match="max_epoch"):
    cfg.train.max_epoch = 3
  with pytest.raises(ValueError, match="no preset config 'ml1n'.*ml1m"):
    idw_jax.get_config("ml1n")


def test_no_api_name_is_a_module_of_the_package():
  # `from idw_jax import recommend` (the module) would replace an API function of that name
  modules = {m.name for m in pkgutil.iter_modules(idw_jax.__path__)}
  assert modules and not modules & set(idw_jax.API)
  assert all(callable(getattr(idw_jax, name)) for name in idw_jax.API)


def test_importing_idw_jax_and_building_a_config_imports_no_jax():
  code = ("import sys, idw_jax; c = idw_jax.get_config('ml1m', 'mur_idw', tiny=True); "
          "print(c.data.name, 'jax' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True,
                       check=True).stdout
  assert out.split() == ["ml1m", "False"]


@pytest.mark.slow      # launch.py and the API, each a whole tiny run
def test_the_readme_example_gives_launch_pys_run_and_recommend_s_top_k(tmp_path, capsys):
  cfg = idw_jax.get_config("synthetic", "mur", tiny=True, overrides={"train.max_epochs": 1})
  results = idw_jax.train_run(cfg, tmp_path / "api")
  assert f"results: {tmp_path / 'api' / 'results.json'}" in capsys.readouterr().out
  assert results == json.loads((tmp_path / "api" / "results.json").read_text())
  proc = _launch("--config=configs/synthetic.py:mur,tiny", "--config.train.max_epochs=1",
                 f"--workdir={tmp_path / 'cli'}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  cli = json.loads((tmp_path / "cli" / "results.json").read_text())
  for key in ("test", "valid", "silhouette", "config"):
    assert results[key] == cli[key], key
  assert [r["train_loss"] for r in results["history"]] == [r["train_loss"] for r in cli["history"]]

  run = idw_jax.load_run(tmp_path / "api")
  history = ["3 14 15 9 26", "1 2"]
  rows = idw_jax.top_k(run, history, k=10).rows()
  assert rows == recommend_lib.top_k(tmp_path / "cli", history, k=10).rows()
  for row, h in zip(rows, history):   # sane: k distinct items of the catalogue, not the history's
    items = [str(r["item"]) for r in row["items"]]
    assert len(set(items)) == 10 and not set(items) & set(h.split())
    assert all(1 <= int(i) <= 50 for i in items)
    scores = [r["score"] for r in row["items"]]
    assert scores == sorted(scores, reverse=True)


@pytest.fixture
def finished(mur_run, tmp_path):
  """A copy of the session's finished tiny MUR run and its config."""
  return copy_run(mur_run, tmp_path / "run"), tiny_config("mur", **RUN_FIELDS)


def _no_data(monkeypatch):
  def refuse(*_, **__):
    raise AssertionError("the data was read")
  monkeypatch.setattr(run_data, "load_data", refuse)
  monkeypatch.setattr(driver, "load_data", refuse)


def test_a_finished_runs_rerun_reads_no_data_and_prints_what_the_full_path_prints(
    finished, monkeypatch, capsys):
  workdir, cfg = finished
  capsys.readouterr()
  full = driver.run(cfg, workdir)   # the full path: data, checkpoint, the same results
  want = capsys.readouterr().out
  _no_data(monkeypatch)
  results = api.train_run(cfg, workdir)
  assert capsys.readouterr().out == want + f"results: {workdir / 'results.json'}\n"
  assert results["test"] == full["test"] and results["phases"] == full["phases"]
  # launch.py: the same lines, without importing jax
  code = ("import runpy, sys; sys.argv = ['launch.py', *sys.argv[1:]]\n"
          "try: runpy.run_path('launch.py', run_name='__main__')\n"
          "except SystemExit as e: assert not e.code, e.code\n"
          "print('jax imported:', 'jax' in sys.modules)")
  proc = subprocess.run([sys.executable, "-c", code, "--config=configs/synthetic.py:mur",
                         *RUN_OVERRIDES, f"--workdir={workdir}"], cwd=ROOT, env=ENV,
                        capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout == want + f"results: {workdir / 'results.json'}\njax imported: False\n"


def _newest_meta(workdir: Path) -> Path:
  steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
  return workdir / "checkpoints" / str(steps[-1]) / "meta" / "metadata"


@pytest.mark.parametrize("change", ["seed", "results.json", "vocab.json", "phase"])
def test_anything_unlike_a_finished_run_takes_the_full_path(finished, monkeypatch, change):
  workdir, cfg = finished
  if change == "seed":
    cfg = tiny_config("mur", **RUN_FIELDS, seed=1)
  elif change == "phase":   # the newest checkpoint not DONE (e.g. an older code's last save)
    meta = _newest_meta(workdir)
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "phase": "evaluate"}))
  else:
    (workdir / change).unlink()
  _no_data(monkeypatch)
  with pytest.raises(AssertionError, match="the data was read"):
    api.train_run(cfg, workdir)


def test_the_full_path_still_refuses_another_config_and_rewrites_lost_results(finished):
  workdir, cfg = finished
  with pytest.raises(ValueError, match=r"holds a run with another config \(seed: 0 -> 1\)"):
    api.train_run(tiny_config("mur", **RUN_FIELDS, seed=1), workdir)
  before = json.loads((workdir / "results.json").read_text())
  (workdir / "results.json").unlink()
  assert api.train_run(cfg, workdir)["test"] == before["test"]
  assert json.loads((workdir / "results.json").read_text())["test"] == before["test"]
