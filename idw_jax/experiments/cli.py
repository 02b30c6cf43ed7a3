"""The experiment commands' shared flags and flag values (grid, search, figures): --config and
its overrides for every run, --jobs / --compilation_cache, and the parsers of --seeds,
--methods, --set and lists of numbers, each naming its flag in a one-line error; and the rule
that a default output folder git tracks is written into only when a flag names it
(refuse_committed_defaults)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Sequence

from idw_jax import cli
from idw_jax import compilation_cache as compilation_cache_lib
from idw_jax import config as config_lib


def parse_sweep(items: Sequence[str]) -> dict[str, list[Any]]:
  """["a.b=1,2", "c=x"] -> {"a.b": [1, 2], "c": ["x"]}."""
  sweep = {}
  for item in items:
    if "=" not in item:
      raise ValueError(f"--set expects key=v1,v2,..., got {item!r}")
    key, values = item.split("=", 1)
    key = key.strip().removeprefix("config.")
    sweep[key] = [config_lib.parse_value(v) for v in values.split(",")]
  return sweep


def parse_seeds(text: str | Sequence) -> list[int]:
  """"0,1,2" or "0-4" (inclusive) -> [0, 1, 2]; ValueError naming --seeds for anything else
  (a non-integer, an empty range such as 3-1, no seed at all)."""
  parts = text.split(",") if isinstance(text, str) else list(text)
  seeds = []
  for part in (str(p).strip() for p in parts):
    if not part:
      continue
    lo, _, hi = part.partition("-") if "-" in part[1:] else (part, "", part)
    try:
      lo, hi = int(lo), int(hi)
    except ValueError:
      raise ValueError(f"--seeds: {part!r} is not a seed; write e.g. 0,1,2 or 0-4") from None
    if hi < lo:
      raise ValueError(f"--seeds: the range {part!r} is empty (write low-high)")
    seeds.extend(range(lo, hi + 1))
  if not seeds:
    raise ValueError(f"--seeds: no seed in {text!r}; write e.g. 0,1,2 or 0-4")
  return seeds


def parse_numbers(text: str, flag: str, *, as_written: bool = False) -> list[float]:
  """"0.7,0.9" -> [0.7, 0.9]; ValueError naming `flag` (e.g. "--momenta") otherwise. With
  as_written, integers stay int ("1,2,5": a sweep of model.num_interests, whose run names and
  config fields need ints)."""
  values = []
  for part in (p.strip() for p in text.split(",")):
    value = config_lib.parse_value(part)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise ValueError(f"{flag}: {part!r} is not a number; write e.g. 0.7,0.9")
    values.append(value if as_written else float(value))
  return values


def parse_methods(text: str | Sequence[str]) -> list[str]:
  parts = text.split(",") if isinstance(text, str) else list(text)
  parts = [p.strip() for p in parts if p.strip()]
  return list(config_lib.METHODS) if parts == ["all"] else parts


def config_flag_parts(flag) -> tuple[str, str | None, dict[str, Any]]:
  """(config file, arg, overrides) of an ml_collections config-file flag."""
  from ml_collections import config_flags
  path = config_flags.get_config_filename(flag)
  file, _, arg = path.partition(":")
  overrides = dict(config_flags.get_override_values(flag))
  return file, arg or None, overrides


def fixed_overrides(arg: str | None, overrides: dict[str, Any],
                    data_source: str = "synthetic", config_file: str | None = None
                    ) -> dict[str, Any]:
  """Every run's overrides: the fields the config arg sets beside method and preset (a variant
  of the preset the config file names, e.g. ml1m_loo's `sasrec`, then `tiny`:
  `config.tiny_fields(data_source)` and the preset's own tiny fields), then the --config.a.b=v
  flags. The specs are built from the config file alone, so without this
  `--config=configs/synthetic.py:mur,tiny` would drop the `tiny`."""
  from idw_jax import configs
  parts = [p.strip() for p in (arg or "").split(",") if p.strip()]
  dataset = configs.REGISTRY.get(Path(config_file).stem) if config_file else None
  variants = dataset.variants if dataset is not None else {}
  other = [p for p in parts if p not in config_lib.METHODS and p not in config_lib.PRESETS
           and p != "tiny" and p not in variants]
  if other:   # e.g. a config file of one's own with a variant: the specs would run without it
    raise ValueError(f"--config: the grid applies a config arg's method, preset, 'tiny' and the "
                     f"variants of a preset in idw_jax/configs, not {', '.join(map(repr, other))}; "
                     "set its fields with --config.a.b=v (the config file's docstring lists "
                     "them) or run launch.py")
  fields: dict[str, Any] = {}
  for word in variants:                    # in the preset's order, as Dataset.config applies them
    if word in parts:
      fields.update(variants[word])
  if "tiny" in parts:
    fields.update(config_lib.tiny_fields(data_source))
    fields.update(dataset.tiny if dataset is not None else {})
  return {**fields, **overrides}


def experiment_config(flag) -> tuple[str, str, dict[str, Any]]:
  """(config file, preset, every run's overrides) of the --config flag: the overrides of its
  arg and of --config.a.b=v, less the preset (a grid argument); method and seed stay in."""
  file, arg, overrides = config_flag_parts(flag)
  overrides = fixed_overrides(arg, overrides, flag.value.data.source, file)
  return file, overrides.pop("preset", flag.value.preset), overrides


def define_config_flag():
  """--config of the experiment commands (a config file[:arg] whose --config.a.b=v overrides
  apply to every run) and --debug; a mistyped field is one line (idw_jax.cli)."""
  cli.define_debug_flag()
  return cli.define_config_flag(
      str(config_lib.repo_root() / "configs/synthetic.py"),
      "Config file[:method[,preset][,tiny]]; --config.a.b=v sets a field for every run.")


def define_execution_flags():
  """--jobs and --compilation_cache (how a grid computes its runs: experiments.executors)."""
  from absl import flags
  flags.DEFINE_integer("jobs", 1, "Runs at a time; > 1 runs launch.py subprocesses "
                       "(idw_jax.experiments.grid).")
  flags.DEFINE_string("compilation_cache", compilation_cache_lib.DEFAULT,
                      "JAX persistent compilation cache folder ('' = off; env IDW_JAX_CACHE).")


def quiet_absl_logging():
  """absl's INFO lines off (Orbax logs every save) unless --verbosity is given."""
  from absl import flags, logging
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)


def is_committed(folder: str | os.PathLike) -> bool:
  """Whether git tracks a file under `folder` (relative to the working directory): a committed
  folder. False for a folder outside a git checkout, or where git is not installed."""
  path = Path(folder).resolve()
  cwd = next(p for p in (path, *path.parents) if p.is_dir())
  try:
    proc = subprocess.run(["git", "--literal-pathspecs", "ls-files", "--", str(path)], cwd=cwd,
                          capture_output=True, text=True, timeout=60)
  except (OSError, subprocess.SubprocessError):
    return False
  return proc.returncode == 0 and bool(proc.stdout.strip())


def refuse_committed_defaults(defaults: dict[str, str | os.PathLike]):
  """ValueError (one line) when a flag left at its default would write into a committed
  folder: `defaults` maps each flag the user did not pass ("--out") to its default folder, or
  file (a name with a suffix, e.g. results/ml1m/idw_search.md: its folder is checked).
  Committed results (results/ml1m, ...) change only when the command names them."""
  folder = lambda path: Path(path).parent if Path(path).suffix else Path(path)
  flags = " ".join(f"{flag}={path}" for flag, path in defaults.items()
                   if is_committed(folder(path)))
  if flags:
    raise ValueError(f"{flags} (by default) would write into a committed folder (git tracks "
                     f"files there); pass {flags} to add to it, or another folder")
