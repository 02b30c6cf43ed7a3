"""What a grid runs and what its runs are called: config files, RunSpec, run names, the grid's
product of methods x seeds x swept values (layout and naming rules: idw_jax.experiments.grid)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import itertools
import json
import os
from pathlib import Path
from typing import Any, Sequence

from idw_jax import config as config_lib
from idw_jax import workdir as workdir_lib

# Fields written out in run names whenever they differ from the defaults (the paper's sweeps).
READABLE = ("data.synthetic.cluster_exponent", "model.num_interests", "idw.eta", "idw.momentum",
            "idw.calibrate", "idw.max_iterations")

_MODULES: dict[str, Any] = {}


def resolve_config_file(path: str | os.PathLike) -> Path:
  """A config file as given (relative to the cwd), else relative to the repository root."""
  p = Path(path).expanduser()
  if not p.exists() and not p.is_absolute() and (config_lib.repo_root() / p).exists():
    p = config_lib.repo_root() / p
  if not p.exists():
    raise FileNotFoundError(f"config file {path} not found")
  return p.resolve()


def load_config(config_file: str | os.PathLike, arg: str | None = None):
  """`get_config(arg)` of a configs/*.py file (unlocked, unfinalized)."""
  path = str(resolve_config_file(config_file))
  if path not in _MODULES:
    spec = importlib.util.spec_from_file_location(f"idw_config_{len(_MODULES)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _MODULES[path] = module
  return _MODULES[path].get_config(arg)


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """One run: a config file, a method, a seed and dotted overrides (fixed and swept).

  overrides: ((dotted_key, value), ...) applied in order on top of the config file.
  point: ((dotted_key, value), ...) the run's grid point (names, progress lines, table groups);
    a swept idw.* value is part of the point of a non-IDW run but not of its overrides.
  """

  config_file: str
  method: str
  seed: int
  preset: str = "paper"
  overrides: tuple[tuple[str, Any], ...] = ()
  point: tuple[tuple[str, Any], ...] = ()

  @property
  def sweep(self) -> dict[str, Any]:
    return dict(self.point)

  def base(self):
    c = load_config(self.config_file)
    c.method, c.preset, c.seed = self.method, self.preset, int(self.seed)
    return c

  def config(self):
    """The finalized config of this run."""
    c = self.base()
    for key, value in self.overrides:
      config_lib.set_field(c, key, value)
    return config_lib.finalize(c)

  def default_config(self):
    """The finalized config of the same method, preset and seed without overrides."""
    return config_lib.finalize(self.base())


def fmt_value(v: Any) -> str:
  """A value as run names and progress lines write it (0.0001, True, 16_16, a_b)."""
  if isinstance(v, bool) or v is None:
    return str(v)
  if isinstance(v, float):
    return format(v, "g")
  if isinstance(v, (list, tuple)):
    return "_".join(fmt_value(x) for x in v)
  return "".join(ch if ch.isalnum() or ch in "._" else "_" for ch in str(v))


def run_name(spec: RunSpec, cfg=None) -> str:
  """<method>-<preset>-seed<s>[-<leaf><value>...][-h<hash>] from the resolved config."""
  cfg = cfg if cfg is not None else spec.config()
  now = workdir_lib.flatten(cfg.to_dict())
  default = workdir_lib.flatten(spec.default_config().to_dict())
  diff = {k: now.get(k) for k in sorted(set(now) | set(default)) if now.get(k) != default.get(k)}
  shown = [k for k in diff if k in READABLE or k in spec.sweep]
  parts = [f"{spec.method}-{spec.preset}-seed{spec.seed}"]
  parts += [f"{k.rsplit('.', 1)[-1]}{fmt_value(diff[k])}" for k in shown]
  rest = {k: v for k, v in diff.items() if k not in shown}
  if rest:
    digest = hashlib.sha1(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:8]
    parts.append(f"h{digest}")
  return "-".join(parts)


def make_specs(config_file: str, methods: Sequence[str], seeds: Sequence[int],
               sweep: dict[str, Sequence[Any]] | None = None,
               fixed: dict[str, Any] | None = None, preset: str = "paper") -> list[RunSpec]:
  """The product sweep values x methods x seeds (seeds innermost), fixed overrides first.

  Overrides of idw.* fields are dropped for methods without IDW (they do not read them), so
  e.g. the MUR reference of an eta sweep is one run, shared with every other grid.
  """
  sweep = dict(sweep or {})
  fixed = {k: v for k, v in (fixed or {}).items() if k not in sweep}
  for key in ("method", "seed", "preset"):
    if key in sweep or key in fixed:
      raise ValueError(f"{key} is a grid argument (methods/seeds/preset), not an override")
  for m in methods:
    if m not in config_lib.METHODS:
      raise ValueError(f"unknown method {m!r}; one of {config_lib.METHODS}")
  specs = []
  keys = tuple(sweep)
  for values in itertools.product(*(sweep[k] for k in keys)):
    for method in methods:
      for seed in seeds:
        point = tuple(zip(keys, values))
        overrides = tuple(fixed.items()) + point
        if method not in config_lib.IDW_METHODS:    # idw.* has no effect: share the run
          overrides = tuple((k, v) for k, v in overrides if not k.startswith("idw."))
        specs.append(RunSpec(str(config_file), method, int(seed), preset, overrides, point))
  return specs


def base_run(spec: RunSpec) -> RunSpec | None:
  """The run whose whole training is `spec`'s pretraining (mur for mur_idw), or None."""
  base = config_lib.IDW_BASE.get(spec.method)
  if base is None:
    return None
  overrides = tuple((k, v) for k, v in spec.overrides if not k.startswith("idw."))
  return dataclasses.replace(spec, method=base, overrides=overrides)
