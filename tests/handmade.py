"""Hand-made grid folders for the tables and significance tests: records that hold the config
the grid gives their run (configs/synthetic.py, no training), with chosen metrics and ranks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from idw_jax.experiments import cache
from idw_jax.experiments import records
from idw_jax.experiments import specs as specs_lib

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = str(ROOT / "configs" / "synthetic.py")


def config(spec: specs_lib.RunSpec) -> dict:
  """The run's resolved config as results.json stores it (JSON: tuples become lists)."""
  return json.loads(json.dumps(spec.config().to_dict(), default=str))


def block(ndcg20: float, hr20: float | None = None) -> dict:
  """A test block {overall, head, tail}: the @5 metrics half the @20 ones."""
  hr20 = ndcg20 + 30 if hr20 is None else hr20
  def split(nd, hr, n):
    return {"HR@5": hr / 2, "NDCG@5": nd / 2, "HR@20": hr, "NDCG@20": nd, "count": n}
  return {"overall": split(ndcg20, hr20, 100), "head": split(ndcg20 + 5, hr20 + 5, 30),
          "tail": split(ndcg20 - 5, hr20 - 5, 70)}


def results(spec: specs_lib.RunSpec, ndcg20: float, **extra: Any) -> dict:
  """A finished run's results.json: its config, the sampled and full test blocks."""
  return {"method": spec.method, "seed": spec.seed, "dataset": "synthetic", "preset": "paper",
          "config": config(spec), "test": {"sampled": block(ndcg20), "full": block(ndcg20 - 20)},
          **extra}


def grid_folder(out: Path, specs: Sequence[specs_lib.RunSpec],
                ndcg20: Callable[[specs_lib.RunSpec], float] = lambda s: 40.0 + s.seed,
                ranks: bool = True, old_manifest: bool = False) -> list[str]:
  """<out>/grid.json listing `specs` and a record per run (test NDCG@20 ndcg20(spec); ranks of
  100 windows unless ranks=False); old_manifest writes the manifest as grids did before it kept
  config files and overrides. Returns the run names."""
  names, runs = [], []
  for spec in specs:
    name = specs_lib.run_name(spec)
    if name not in names:
      records.write_record(out, name, results(spec, ndcg20(spec)))
      if ranks:
        rng = np.random.default_rng([spec.seed, len(spec.method)])
        np.savez(ranks_path(out, name), sampled=rng.integers(0, 40, 100),
                 full=rng.integers(0, 40, 100))
    names.append(name)
    run = cache.RunRecord(spec, name, out / "runs" / name, status="done").summary()
    if old_manifest:
      run.pop("config_file", None), run.pop("overrides", None)
    runs.append(run)
  records.write_json(out / "grid.json", {"runs": runs})
  return names


def ranks_path(out: Path, name: str) -> Path:
  """<out>/records/<name>.test_ranks.npz."""
  return records.record_path(out, name).with_name(f"{name}.test_ranks.npz")


def edit_record(out: Path, name: str, **fields: Any) -> Path:
  """Sets dotted fields of a record (e.g. config.train.learning_rate) in place; its path."""
  path = records.record_path(out, name)
  rec = json.loads(path.read_text())
  for dotted, value in fields.items():
    *parents, leaf = dotted.split(".")
    node = rec
    for part in parents:
      node = node[part]
    node[leaf] = value
  path.write_text(json.dumps(rec))
  return path
