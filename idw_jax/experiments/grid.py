r"""Grids of runs (methods x seeds x overrides), each run cached in a workdir named from its config
and recorded in a small JSON file that is committed with the tables.

  python -m idw_jax.experiments.grid --config=configs/synthetic.py --methods=sur,mur,mur_idw \
      --seeds=0,1,2 --set=data.synthetic.cluster_exponent=0,1,2 --out=results/synthetic

Every `--set=key=v1,v2,...` adds a dimension (the grid is their product with methods and
seeds); `--config.a.b=v` sets a field for every run (type-checked, as in launch.py). Each run
lives in `<out>/runs/<method>-<preset>-seed<s>[-<field><value>...][-h<hash>]`. The name is a
function of the resolved config alone: the fields that differ from the method's defaults are
written out when they are swept or well known (READABLE), every other difference goes into a
hash. So the same config reached from another grid or a figure is the same folder and runs
once; idw.* overrides are dropped for methods without IDW, which never read them.

Layout of <out> (e.g. results/ml1m):
  runs/<name>/        the run folder: results.json, checkpoints/, log.txt, launch_command.txt
                      (git-ignored: checkpoints are large and machine-bound)
  records/<name>.json the run's results.json (config, metrics, idw_trace, history, phases,
                      timings; no checkpoints), written atomically when the run finishes, or when
                      a finished run folder is found without one (committed to git)
  grid.json           the manifest: the grid's runs, their folders and statuses (committed)
  table.md, table.csv, fig5.md, fig5.png   the tables (committed)

A run is finished when it has a record or a run folder with results.json; either is checked to
hold the config asked for (the fields of workdir.IGNORED aside) and is then "cached", else "stale" (never
overwritten). A run with no record of its name that holds its config (and no checkpoints to
resume) is also finished when another record of <out>/records holds its config: it takes that
record's name (RecordIndex), so a preset change that renames runs recomputes nothing. Records
are looked at first, so a fresh clone, which has records but no runs/, recomputes nothing and
rebuilds the same tables. A run folder with checkpoints but no
results.json resumes (the Driver continues from the latest checkpoint).

Execution: with --jobs=1 (default) runs go one after another in this process, through the same
calls as launch.py (config.finalize, pipeline.load_sequences/make_splits, driver.Driver.run),
with a data cache per data config and a mesh over all local devices; a run that raises is
reported as failed and the grid goes on. With --jobs=N > 1 every run is a subprocess of
launch.py, N at a time, each pinned to its share of the local GPUs (or sharing them with a
memory fraction); a run that crashes cannot take the others with it. In one process, runs of
one shape share the compiled training step (train.train_call is jitted at module level); across
processes JAX's persistent compilation cache (--compilation_cache) does. On a CPU with few
cores --jobs=1 is the fastest (each run already uses every core); --jobs pays off on a host
with several GPUs or many cores. Multi-host (TPU pod) runs go through launch.py.

At the end the grid writes `<out>/grid.json` (the runs and their folders) and the tables
(`idw_jax.experiments.tables`): table.md, table.csv, fig5.md, fig5.png. Figures run their grids
through the same folders (records included) without rewriting grid.json or the tables.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import importlib.util
import itertools
import json
import math
import os
import queue
import shlex
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from idw_jax import compilation_cache as compilation_cache_lib
from idw_jax import config as config_lib
from idw_jax import metrics
from idw_jax import workdir as workdir_lib
from idw_jax.experiments import records as records_lib
from idw_jax.experiments import tables

# Fields written out in run names whenever they differ from the defaults (the paper's sweeps).
READABLE = ("data.synthetic.cluster_exponent", "model.num_interests", "idw.eta", "idw.momentum",
            "idw.calibrate", "idw.max_iterations")


# ------------------------------------------------------------------------------------ configs
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


def _fmt_value(v: Any) -> str:
  if isinstance(v, bool) or v is None:
    return str(v)
  if isinstance(v, float):
    return format(v, "g")
  if isinstance(v, (list, tuple)):
    return "_".join(_fmt_value(x) for x in v)
  return "".join(ch if ch.isalnum() or ch in "._" else "_" for ch in str(v))


def run_name(spec: RunSpec, cfg=None) -> str:
  """<method>-<preset>-seed<s>[-<leaf><value>...][-h<hash>] from the resolved config."""
  cfg = cfg if cfg is not None else spec.config()
  now = workdir_lib.flatten(cfg.to_dict())
  default = workdir_lib.flatten(spec.default_config().to_dict())
  diff = {k: now.get(k) for k in sorted(set(now) | set(default)) if now.get(k) != default.get(k)}
  shown = [k for k in diff if k in READABLE or k in spec.sweep]
  parts = [f"{spec.method}-{spec.preset}-seed{spec.seed}"]
  parts += [f"{k.rsplit('.', 1)[-1]}{_fmt_value(diff[k])}" for k in shown]
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


# --------------------------------------------------------------------------------- execution
@dataclasses.dataclass
class RunRecord:
  """What happened to one run of a grid."""

  spec: RunSpec
  name: str
  workdir: Path
  status: str = "pending"      # cached | done | resumed | failed | stale | not run
  seconds: float = 0.0
  results: dict | None = None
  error: str = ""

  def summary(self) -> dict:
    return {"name": self.name, "method": self.spec.method, "seed": self.spec.seed,
            "preset": self.spec.preset, "sweep": self.spec.sweep,
            "workdir": str(self.workdir), "status": self.status}


def config_diff(saved: dict, cfg) -> str:
  """'' when a finished run's stored config (results.json or record) is `cfg` up to the fields
  that change no number (`workdir.IGNORED`); else the differences."""
  return workdir_lib.config_diff(saved, cfg.to_dict())


def _read_finished(rec: RunRecord, path: Path, cfg, holder: str) -> bool:
  """True when `path` (a results.json or a record) exists; sets rec cached or stale."""
  if not path.exists():
    return False
  results = json.loads(path.read_text())
  diff = config_diff(results.get("config", {}), cfg)
  if diff:
    rec.status, rec.error = "stale", f"{holder}holds another config ({diff}); delete it to rerun"
  else:
    rec.status, rec.results = "cached", results
  return True


def _read_cached(rec: RunRecord, cfg) -> bool:
  """True when rec.workdir holds a finished run; sets status cached or stale."""
  return _read_finished(rec, rec.workdir / "results.json", cfg, "")


def _read_record(rec: RunRecord, cfg, out: Path) -> bool:
  """True when the run has a record under <out>/records; sets rec cached or stale."""
  path = records_lib.record_path(out, rec.name)
  return _read_finished(rec, path, cfg, f"its record {path} ")




class RecordIndex:
  """The configs of the records under <out>/records, read once when first needed: a run whose
  record is missing or stale under its own name is finished when another record holds its
  config. Run names follow the preset's defaults, so after a preset change the same config
  gets another name (or its old name another config); the grid finds the record either way."""

  def __init__(self, out: Path):
    self.folder = Path(out) / "records"
    self._configs: list[tuple[str, dict]] | None = None

  def find(self, cfg, skip: str) -> str | None:
    """The name of a record (other than `skip`) holding `cfg` (config_diff ''), else None."""
    if self._configs is None:
      self._configs = []
      for path in sorted(self.folder.glob("*.json")):
        try:
          self._configs.append((path.stem, json.loads(path.read_text()).get("config", {})))
        except (OSError, ValueError):
          continue                 # not a record (or half written): never a match
    return next((name for name, saved in self._configs
                 if name != skip and not config_diff(saved, cfg)), None)


def _read_matching_record(rec: RunRecord, cfg, out: Path, index: RecordIndex) -> bool:
  """True when another record holds rec's config: rec takes that record's name and folder."""
  name = index.find(cfg, skip=rec.name)
  if name is None:
    return False
  rec.name, rec.workdir, rec.error = name, out / "runs" / name, ""
  return _read_record(rec, cfg, out)


def _has_checkpoint(workdir: Path) -> bool:
  ckpt = workdir / "checkpoints"
  return ckpt.is_dir() and any(p.name.isdigit() for p in ckpt.iterdir())


def base_run(spec: RunSpec) -> RunSpec | None:
  """The run whose whole training is `spec`'s pretraining (mur for mur_idw), or None."""
  base = config_lib.IDW_BASE.get(spec.method)
  if base is None:
    return None
  overrides = tuple((k, v) for k, v in spec.overrides if not k.startswith("idw."))
  return dataclasses.replace(spec, method=base, overrides=overrides)


def pretrained_workdir(spec: RunSpec, runs: Path) -> Path | None:
  """A finished run of spec's base method under `runs` (same config and seed) that still has
  its checkpoints (the Driver starts from them), if any. A base run known only from its record
  does not count: the IDW run then pretrains itself."""
  base = base_run(spec)
  if base is None or dict(spec.overrides).get("idw.pretrained_workdir"):
    return None
  cfg = base.config()
  name = run_name(base, cfg)
  rec = RunRecord(base, name, runs / name)
  if not _has_checkpoint(rec.workdir):
    return None
  return rec.workdir if _read_cached(rec, cfg) and rec.status == "cached" else None


def launch_command(spec: RunSpec, workdir: Path, pretrained: Path | None = None) -> list[str]:
  """The launch.py command line that runs `spec` in `workdir` (written beside every run)."""
  cmd = [sys.executable, str(config_lib.repo_root() / "launch.py"),
         f"--config={resolve_config_file(spec.config_file)}:{spec.method},{spec.preset}",
         f"--config.seed={spec.seed}"]
  for key, value in spec.overrides:
    text = repr(tuple(value)) if isinstance(value, (tuple, list)) else str(value)
    cmd.append(f"--config.{key}={text}")
  if pretrained is not None:
    cmd.append(f"--config.idw.pretrained_workdir={pretrained}")
  return cmd + [f"--workdir={workdir}"]


class _DataCache:
  """Splits and dataset summary per data config (in-process runs); keeps the last few."""

  def __init__(self, size: int = 4):
    self.size = size
    self._items: collections.OrderedDict = collections.OrderedDict()

  def get(self, cfg, workdir: Path):
    from idw_jax import driver
    tfds_dir = cfg.data.tfds_dir or str(workdir.parent / "tfds")
    key = json.dumps(cfg.data.to_dict(), sort_keys=True, default=str) + "|" + tfds_dir
    if key in self._items:
      self._items.move_to_end(key)
      return self._items[key]
    self._items[key] = driver.load_data(cfg, workdir)
    while len(self._items) > self.size:
      self._items.popitem(last=False)
    return self._items[key]


_DATA = _DataCache()


def _run_in_process(spec: RunSpec, cfg, workdir: Path) -> dict:
  from absl import logging
  from idw_jax import driver
  data = _DATA.get(cfg, workdir)
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.WARNING)          # Orbax logs every save at INFO
  try:
    with open(workdir / "log.txt", "a") as log, contextlib.redirect_stdout(log), \
        contextlib.redirect_stderr(log):
      return driver.run(cfg, workdir, data)
  finally:
    logging.set_verbosity(verbosity)


def _visible_gpus() -> list[str]:
  env = os.environ.get("CUDA_VISIBLE_DEVICES")
  if env is not None:
    return [g for g in env.split(",") if g.strip()]
  try:
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
  except (OSError, subprocess.SubprocessError):
    return []
  return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]


def _slot_env(slot: int, jobs: int, cache: str) -> dict[str, str]:
  """Environment of parallel slot `slot`: its GPUs (or a memory share) and the compile cache."""
  env = dict(os.environ)
  if cache and "JAX_COMPILATION_CACHE_DIR" not in env:
    env["JAX_COMPILATION_CACHE_DIR"] = cache
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  gpus = _visible_gpus()
  if gpus and jobs > 1:
    if len(gpus) >= jobs:
      share = len(gpus) // jobs
      env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus[slot * share:(slot + 1) * share])
    else:
      per_gpu = math.ceil(jobs / len(gpus))
      env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
      env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / per_gpu:.2f}"
  return env


def _run_subprocess(spec: RunSpec, workdir: Path, env: dict[str, str],
                    cmd: list[str] | None = None) -> dict:
  with open(workdir / "log.txt", "a") as log:
    proc = subprocess.run(cmd or launch_command(spec, workdir), stdout=log, stderr=subprocess.STDOUT,
                          env=env, cwd=config_lib.repo_root())
  if proc.returncode != 0:
    tail = (workdir / "log.txt").read_text(errors="replace").strip().splitlines()[-1:]
    raise RuntimeError(f"launch.py exited with {proc.returncode}: {' '.join(tail)}")
  return json.loads((workdir / "results.json").read_text())


def primary_metrics(results: dict | None) -> tuple[str, dict] | tuple[None, None]:
  """("sampled" | "full", test overall metrics): sampled where the dataset has it."""
  if not results:
    return None, None
  kind = metrics.primary_kind(results["test"])
  block = results["test"].get(kind)
  return (kind, block["overall"]) if block else (None, None)


def _progress_line(i: int, total: int, rec: RunRecord) -> str:
  sweep = " ".join(f"{k.rsplit('.', 1)[-1]}={_fmt_value(v)}" for k, v in rec.spec.sweep.items())
  settings = f"{rec.spec.method} seed={rec.spec.seed}" + (f" {sweep}" if sweep else "")
  kind, m = primary_metrics(rec.results)
  metric = "" if m is None else f"HR@20 {m['HR@20']:6.2f}  NDCG@20 {m['NDCG@20']:6.2f} ({kind})"
  width = len(str(total))
  line = (f"[{i:>{width}}/{total}] {settings:<40} {rec.status:<8} {rec.seconds:8.1f}s  "
          f"{metric}")
  return line + (f"  {rec.error}" if rec.error else "")


def run_grid(specs: Sequence[RunSpec], out: str | os.PathLike, jobs: int = 1,
             max_new_runs: int | None = None,
             compilation_cache: str = compilation_cache_lib.DEFAULT,
             echo: Callable[[str], Any] = print, write_tables: bool = True,
             reuse_pretraining: bool = True) -> list[RunRecord]:
  """Runs (or reads from the cache) every spec under <out>/runs; returns one record per spec.

  A run with a record <out>/records/<name>.json is read from it (cached, or stale when its
  config differs) and its run folder is not looked at; else a run folder with results.json is
  read (and its missing record written); else the run is computed, and its record written
  when it finishes.

  Args:
    specs: the runs (make_specs); duplicates (same run folder) run once.
    out: results folder; runs go to <out>/runs/<name>, their records to <out>/records/<name>.json,
      the manifest to <out>/grid.json.
    jobs: 1 runs in this process; > 1 runs that many launch.py subprocesses at a time.
    max_new_runs: compute at most this many runs that are not finished yet (then stop; the
      rest are reported as "not run"). For partial sweeps and for tests.
    compilation_cache: JAX persistent compilation cache folder ("" = off).
    echo: progress lines (index/total, settings, status, seconds, key metric).
    write_tables: write the manifest grid.json, table.md/.csv and fig5.md/.png under `out`
      at the end (off for figures, whose runs would otherwise replace the table's).
    reuse_pretraining: an IDW run starts from the finished run of its base method (mur for
      mur_idw, same config and seed) under <out>/runs when there is one (idw.pretrained_workdir):
      the same numbers without pretraining again. Base methods run first; with jobs > 1 a
      base still running when its IDW run starts is not waited for (it pretrains itself), nor
      is a base known only from its record (no checkpoints to start from).
  """
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)       # runs/<name> is made when a run is computed
  records, configs, seen = [], [], {}
  for spec in specs:
    cfg = spec.config()
    name = run_name(spec, cfg)
    rec = RunRecord(spec, name, out / "runs" / name)
    records.append(rec)
    configs.append(cfg)
  total = len(records)
  todo = []
  index = RecordIndex(out)
  for i, (rec, cfg) in enumerate(zip(records, configs), 1):
    found = _read_record(rec, cfg, out)
    if rec.status != "cached" and not _has_checkpoint(rec.workdir):
      found = _read_matching_record(rec, cfg, out, index) or found
    if found:
      echo(_progress_line(i, total, rec))
    elif _read_cached(rec, cfg):
      if rec.status == "cached":   # a run finished before records existed, or a record lost
        records_lib.write_record(out, rec.name, rec.results, rec.workdir)
      echo(_progress_line(i, total, rec))
    elif rec.name in seen:
      continue                     # the same run twice in one grid: computed once
    else:
      seen[rec.name] = rec
      todo.append((i, rec, cfg))
  if reuse_pretraining:   # base methods first, so that IDW runs find their pretraining
    todo.sort(key=lambda t: t[1].spec.method in config_lib.IDW_METHODS)
  skipped = []
  if max_new_runs is not None:
    todo, skipped = todo[:max_new_runs], todo[max_new_runs:]

  def run_one(rec: RunRecord, cfg, env=None):
    rec.workdir.mkdir(parents=True, exist_ok=True)
    resumed = _has_checkpoint(rec.workdir)
    pretrained = None
    if reuse_pretraining and not resumed:
      pretrained = pretrained_workdir(rec.spec, out / "runs")
    if pretrained is not None:
      pretrained = pretrained.absolute()
      cfg = cfg.copy_and_resolve_references()
      cfg.idw.pretrained_workdir = str(pretrained)
    cmd = launch_command(rec.spec, rec.workdir, pretrained)
    (rec.workdir / "launch_command.txt").write_text(shlex.join(cmd) + "\n")
    t0 = time.time()
    try:
      rec.results = (_run_in_process(rec.spec, cfg, rec.workdir) if env is None
                     else _run_subprocess(rec.spec, rec.workdir, env, cmd))
      records_lib.write_record(out, rec.name, rec.results, rec.workdir)
      rec.status = "resumed" if resumed else "done"
      (rec.workdir / "error.txt").unlink(missing_ok=True)
    except Exception as e:  # pylint: disable=broad-except
      rec.status, rec.error = "failed", f"{type(e).__name__}: {e}".splitlines()[0][:300]
      (rec.workdir / "error.txt").write_text(traceback.format_exc())
    rec.seconds = time.time() - t0
    return rec

  if todo and jobs <= 1:
    compilation_cache_lib.enable(compilation_cache)
    for i, rec, cfg in todo:
      echo(_progress_line(i, total, run_one(rec, cfg)))
  elif todo:
    slots: queue.Queue = queue.Queue()
    for s in range(jobs):
      slots.put(s)

    def in_slot(rec, cfg):
      slot = slots.get()
      try:
        return run_one(rec, cfg, _slot_env(slot, jobs, compilation_cache))
      finally:
        slots.put(slot)

    index = {id(rec): i for i, rec, _ in todo}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
      futures = [pool.submit(in_slot, rec, cfg) for _, rec, cfg in todo]
      for fut in concurrent.futures.as_completed(futures):
        rec = fut.result()
        echo(_progress_line(index[id(rec)], total, rec))
  for i, rec, _ in skipped:
    rec.status = "not run"
    echo(_progress_line(i, total, rec))
  for rec in records:                # duplicates share the result of their first occurrence
    if rec.status == "pending" and rec.name in seen:
      first = seen[rec.name]
      rec.status, rec.results, rec.error = first.status, first.results, first.error
  if write_tables:   # figures share the runs folder but must not replace the table's manifest
    rows = records_lib.records_to_rows(records)
    found = tables.count_finished(tables.aggregate(rows))
    held = tables.count_finished_csv(out / "table.csv")
    if held is not None and found < held:   # never replace a committed table with less
      echo(f"tables: not rewritten: this grid has {found} finished run(s), {out / 'table.csv'} "
           f"holds {held}; `python -m idw_jax.experiments.tables {out} --force` rebuilds them "
           "from the last grid.json")
    else:
      _write_manifest(out, records)
      for line in tables.mixed_cpu_warnings(rows):
        echo(f"tables: warning: {line}")
      written = tables.write_all(rows, out)
      echo("tables: " + ", ".join(str(p) for p in written))
  return records


def _write_manifest(out: Path, records: Iterable[RunRecord]):
  records_lib.write_json(out / "grid.json", {"runs": [r.summary() for r in records]})


# --------------------------------------------------------------------------------------- CLI
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


def fixed_overrides(arg: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
  """Every run's overrides: the fields the config arg sets beside method and preset (`tiny`:
  `config.TINY`), then the --config.a.b=v flags. The specs are built from the config file
  alone, so without this `--config=configs/synthetic.py:mur,tiny` would drop the `tiny`."""
  parts = [p.strip() for p in (arg or "").split(",") if p.strip()]
  return {**(config_lib.TINY if "tiny" in parts else {}), **overrides}


def main(argv):
  del argv
  from absl import flags, logging
  f = flags.FLAGS
  if not f["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  file, arg, overrides = config_flag_parts(f["config"])
  overrides = fixed_overrides(arg, overrides)
  base = _CONFIG.value
  preset = overrides.pop("preset", base.preset)
  method_override = overrides.pop("method", None)
  seed_override = overrides.pop("seed", None)
  methods = parse_methods(f.methods) if f.methods else [method_override or base.method]
  seeds = parse_seeds(f.seeds) if f.seeds else [seed_override if seed_override is not None
                                                 else base.seed]
  sweep = parse_sweep(f.set or [])
  specs = make_specs(file, methods, seeds, sweep, overrides, preset)
  out = f.out or f"results/{base.data.name}"
  print(f"grid: {len(specs)} runs ({len(methods)} methods x {len(seeds)} seeds"
        + "".join(f" x {len(v)} {k}" for k, v in sweep.items()) + f") under {out}/runs, "
        f"jobs={f.jobs}", flush=True)
  records = run_grid(specs, out, jobs=f.jobs, max_new_runs=f.max_new_runs,
                     compilation_cache=f.compilation_cache,
                     echo=lambda s: print(s, flush=True),
                     reuse_pretraining=f.reuse_pretraining)
  bad = [r for r in records if r.status in ("failed", "stale")]
  if bad:
    print(f"{len(bad)} run(s) failed or stale; see the lines above, and error.txt / log.txt in "
          "the run folders")
    return 1
  return 0


def _define_flags():
  from absl import flags
  flags.DEFINE_string("methods", None, "Comma-separated methods, or 'all' (Table 1 order). "
                      "Default: the config's method.")
  flags.DEFINE_string("seeds", None, "Seeds: '0,1,2' or '0-4'. Default: the config's seed.")
  flags.DEFINE_multi_string("set", [], "A grid dimension: dotted.key=v1,v2,... (repeatable; "
                            "the grid is the product).")
  flags.DEFINE_string("out", None, "Results folder (default results/<data.name>).")
  flags.DEFINE_integer("jobs", 1, "Runs at a time; > 1 runs launch.py subprocesses.")
  flags.DEFINE_integer("max_new_runs", None, "Compute at most this many unfinished runs.")
  flags.DEFINE_bool("reuse_pretraining", True, "IDW runs start from the finished run of their "
                    "base method (mur for mur_idw, same config and seed) when the grid has it.")
  flags.DEFINE_string("compilation_cache", compilation_cache_lib.DEFAULT,
                      "JAX persistent compilation cache folder ('' = off; env IDW_JAX_CACHE).")
  return define_config_flag()


def define_config_flag():
  """--config of the experiment commands (a config file[:arg] whose --config.a.b=v overrides
  apply to every run) and --debug; a mistyped field is one line (idw_jax.cli)."""
  from idw_jax import cli
  cli.define_debug_flag()
  return cli.define_config_flag(
      str(config_lib.repo_root() / "configs/synthetic.py"),
      "Config file[:method[,preset][,tiny]]; --config.a.b=v sets a field for every run.")


if __name__ == "__main__":
  from idw_jax import cli
  _CONFIG = _define_flags()
  cli.run(main)
