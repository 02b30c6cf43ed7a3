"""The Python API: a preset config, a run trained (or resumed, or a finished one's results
printed), a finished run loaded and its top-k recommendations.

  import idw_jax
  cfg = idw_jax.get_config("ml1m", "mur_idw", tiny=True, overrides={"seed": 1})
  results = idw_jax.train_run(cfg, "workdirs/demo")      # results.json's dict
  run = idw_jax.load_run("workdirs/demo")                 # a finished run's Recommender
  recs = idw_jax.top_k(run, ["1193 661 914"], k=10)      # .rows(): raw ids, scores, interests
  scores = idw_jax.evaluate_run("workdirs/demo", "later.csv")   # the run on another file

`train_run` is launch.py without its flags (launch.py calls it): the same workdir checks,
compilation cache and resume. Importing this module imports no jax; `train_run`, `load_run` and
`top_k` import it when called. A name here is never a module's of the package: importing
that module would replace the function on `idw_jax`.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import ml_collections

from idw_jax import config as config_lib
from idw_jax import configs
from idw_jax import finished


def get_config(dataset: str, method: str | None = None, preset: str | None = None, *,
               tiny: bool = False, variants: Iterable[str] = (),
               overrides: Mapping[str, Any] | None = None) -> ml_collections.ConfigDict:
  """The resolved config of a preset (idw_jax.configs: "synthetic", "ml1m", "ml1m_loo", ...):
  `launch.py --config=configs/<dataset>.py:<method>,<preset>,<variants>,tiny` with
  `--config.<field>=<value>` for each of `overrides` ({dotted field: value}; a string is read
  as the command line reads it). An unknown field or a value of the wrong type is a one-line
  ValueError naming it. The config is locked: a mistyped attribute is an error too."""
  words = [w for w in (method, preset, *variants, "tiny" if tiny else None) if w]
  c = configs.get(dataset, ",".join(words))
  for field, value in (overrides or {}).items():
    set_override(c, field, value)
  c = config_lib.finalize(c)
  c.lock()
  return c


def set_override(c: ml_collections.ConfigDict, field: str, value: Any):
  """c.<field> = value as `--config.<field>=<value>` sets it: type-checked, one line naming the
  field when it does not exist or does not take the value."""
  *parents, leaf = field.split(".")
  node = c
  try:
    for part in parents:
      node = node[part]
    field_type = node.get_type(leaf)
  except (KeyError, AttributeError, TypeError):
    raise ValueError(f"config.{field}: the config has no such field") from None
  if isinstance(value, str) and field_type is not str:
    value = config_lib.parse_value(value)
  config_lib.set_field(c, field, value)


def default_workdir(cfg) -> Path:
  """workdirs/<data.name>/<method>-<preset>-seed<seed> (launch.py's default --workdir)."""
  return Path(f"workdirs/{cfg.data.name}/{cfg.method}-{cfg.preset}-seed{cfg.seed}")


def train_run(cfg, workdir: str | os.PathLike | None = None, *, flag: str = "workdir") -> dict:
  """Trains the run of `cfg` in `workdir` (default: `default_workdir`) to the end, resuming
  from its checkpoints, and returns results.json's dict; prints as launch.py does. A finished
  run of the same config and data is printed from its files, without reading the data
  (idw_jax/finished.py). The dict is results.json's as read back (lists, string keys) either
  way. flag names the workdir in errors (launch.py: "--workdir")."""
  cfg = config_lib.finalize(cfg)
  workdir = Path(workdir) if workdir else default_workdir(cfg)
  done = finished.check(cfg, workdir)
  if done is not None:
    finished.show(done)
    print(f"results: {workdir / 'results.json'}", flush=True)
    return done.results
  import jax
  from idw_jax import cli
  from idw_jax import compilation_cache
  from idw_jax import driver
  compilation_cache.enable()   # $IDW_JAX_CACHE, "" disables
  if cfg.distributed.initialize:
    d = cfg.distributed
    jax.distributed.initialize(
        coordinator_address=d.coordinator_address or None,
        num_processes=d.num_processes or None,
        process_id=None if d.process_id < 0 else d.process_id)
  made = _make_workdir(workdir, flag)
  try:
    results = driver.run(cfg, workdir)
  except BaseException as e:
    for folder in made:   # refused before writing anything (e.g. the data): no empty workdir
      if not folder.is_dir() or any(folder.iterdir()):
        break
      folder.rmdir()
    if cli.disk_full(e):
      full = OSError(f"{flag}={workdir}: no space left on its device; free some space and run "
                     "again (it resumes from its last complete checkpoint)")
      full.errno = errno.ENOSPC
      raise full from None
    raise
  if jax.process_index() == 0:
    print(f"results: {workdir / 'results.json'}", flush=True)
  return json.loads(json.dumps(results, default=str))   # as results.json holds it


def _make_workdir(workdir: Path, flag: str) -> list[Path]:
  """Creates workdir (a bad one fails here, before the data is read); returns the folders it
  made, deepest first."""
  made = [p for p in (workdir, *workdir.parents) if not p.exists()]
  try:
    workdir.mkdir(parents=True, exist_ok=True)
    if not os.access(workdir, os.W_OK):
      raise PermissionError(13, "not writable")
  except OSError as e:
    raise ValueError(f"{flag}={workdir}: cannot hold a run ({e.strerror or e})") from None
  return made


def load_run(workdir: str | os.PathLike, data_root: str | None = None):
  """A finished run's Recommender (idw_jax.recommend.load_run): its newest readable checkpoint,
  config and vocabulary."""
  from idw_jax import recommend as recommend_lib
  return recommend_lib.load_run(workdir, data_root=data_root)


def top_k(run, histories, k: int = 20, *, exclude_history: bool = True):
  """Top-k items of each history (idw_jax.recommend.top_k; `run.top_k` is the same): run is a
  workdir or `load_run`'s Recommender; histories a string of raw ids or a list of them. Returns
  Recommendations (`.rows()`: raw ids, scores, the interest behind each item). Not called
  `recommend`: `idw_jax.recommend` is the module, which replaces such an attribute once
  imported."""
  from idw_jax import recommend as recommend_lib
  return recommend_lib.top_k(run, histories, k, exclude_history=exclude_history)


def evaluate_run(workdir: str | os.PathLike, path: str | os.PathLike, *,
                 data_overrides: Mapping[str, Any] | None = None) -> dict:
  """The finished run in `workdir` scored on another interaction file with its vocabulary and
  protocol (idw_jax.evaluate.evaluate_run): a results-style dict, the unknown items counted."""
  from idw_jax import evaluate as evaluate_lib
  return evaluate_lib.evaluate_run(workdir, path, data_overrides=dict(data_overrides or {}))
