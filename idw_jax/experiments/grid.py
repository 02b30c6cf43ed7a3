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
  grid.json           the manifest: the grid's runs (name, method, seed, preset, sweep point,
                      config file and overrides: enough to rebuild each run's config), their
                      folders and statuses (committed)
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
memory fraction); a run that crashes cannot take the others with it, and the subprocesses
end with the grid (interrupted, terminated or, on Linux, killed: executors.py). A grid with no
finished run writes neither grid.json nor tables and exits with 1. In one process, runs of one
shape share the compiled training step (train.train_call is jitted at module level); across
processes JAX's persistent compilation cache (--compilation_cache) does. On a CPU with few
cores --jobs=1 is the fastest (each run already uses every core); --jobs pays off on a host
with several GPUs or many cores. Multi-host (TPU pod) runs go through launch.py.

At the end the grid writes `<out>/grid.json` (the runs and their folders) and the tables
(`idw_jax.experiments.tables`): table.md, table.csv, fig5.md, fig5.png. Figures run their grids
through the same folders (records included) without rewriting grid.json or the tables.

The pieces: experiments/specs.py (RunSpec, config files, run names), records.py (the record
files and the tables' rows), cache.py (which runs are finished: records, RecordIndex, run
folders), executors.py (computing runs in this process or as launch.py subprocesses), cli.py
(the flags grid, search and figures share); this module puts them together (run_grid).

Flags:
  --config             config file[:method[,preset][,tiny]] (default configs/synthetic.py);
                       --config.a.b=v sets a field for every run
  --methods            comma-separated methods, or all (Table 1 order); default: the config's
  --seeds              0,1,2 or 0-4; default: the config's seed
  --set                a grid dimension, dotted.key=v1,v2,... (repeatable: the product)
  --out                results folder (default results/<data.name>, unless git tracks files in
                       it: a committed folder is written into only when --out names it)
  --jobs               runs at a time (default 1; > 1: launch.py subprocesses)
  --max_new_runs       compute at most this many unfinished runs
  --[no]reuse_pretraining  IDW runs start from their base run's checkpoints (default on)
  --compilation_cache  JAX persistent compilation cache folder ('' = off)
  --debug              the full traceback of a user error instead of one line
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from idw_jax import compilation_cache as compilation_cache_lib
from idw_jax import config as config_lib
from idw_jax import metrics
from idw_jax.experiments import cache
from idw_jax.experiments import cli as exp_cli
from idw_jax.experiments import executors
from idw_jax.experiments import records as records_lib
from idw_jax.experiments import specs as specs_lib
from idw_jax.experiments import tables


def primary_metrics(results: dict | None) -> tuple[str, dict] | tuple[None, None]:
  """("sampled" | "full", test overall metrics): sampled where the dataset has it."""
  if not results:
    return None, None
  kind = metrics.primary_kind(results["test"])
  block = results["test"].get(kind)
  return (kind, block["overall"]) if block else (None, None)


def _progress_line(i: int, total: int, rec: cache.RunRecord) -> str:
  sweep = " ".join(f"{k.rsplit('.', 1)[-1]}={specs_lib.fmt_value(v)}"
                   for k, v in rec.spec.sweep.items())
  settings = f"{rec.spec.method} seed={rec.spec.seed}" + (f" {sweep}" if sweep else "")
  kind, m = primary_metrics(rec.results)
  metric = "" if m is None else f"HR@20 {m['HR@20']:6.2f}  NDCG@20 {m['NDCG@20']:6.2f} ({kind})"
  width = len(str(total))
  line = (f"[{i:>{width}}/{total}] {settings:<40} {rec.status:<8} {rec.seconds:8.1f}s  "
          f"{metric}")
  return line + (f"  {rec.error}" if rec.error else "")


def run_grid(specs: Sequence[specs_lib.RunSpec], out: str | os.PathLike, jobs: int = 1,
             max_new_runs: int | None = None,
             compilation_cache: str = compilation_cache_lib.DEFAULT,
             echo: Callable[[str], Any] = print, write_tables: bool = True,
             reuse_pretraining: bool = True) -> list[cache.RunRecord]:
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
    name = specs_lib.run_name(spec, cfg)
    records.append(cache.RunRecord(spec, name, out / "runs" / name))
    configs.append(cfg)
  total = len(records)
  todo = []
  index = cache.RecordIndex(out)
  for i, (rec, cfg) in enumerate(zip(records, configs), 1):
    if cache.lookup(rec, cfg, out, index):
      echo(_progress_line(i, total, rec))
    elif rec.name not in seen:     # the same run twice in one grid: computed once
      seen[rec.name] = rec
      todo.append((i, rec, cfg))
  if reuse_pretraining:   # base methods first, so that IDW runs find their pretraining
    todo.sort(key=lambda t: t[1].spec.method in config_lib.IDW_METHODS)
  skipped = []
  if max_new_runs is not None:
    todo, skipped = todo[:max_new_runs], todo[max_new_runs:]
  run = functools.partial(executors.compute, out=out, reuse_pretraining=reuse_pretraining)
  done = (executors.in_process(todo, run, compilation_cache) if jobs <= 1 else
          executors.subprocesses(todo, run, jobs, compilation_cache))
  for i, rec in (done if todo else ()):
    echo(_progress_line(i, total, rec))
  for i, rec, _ in skipped:
    rec.status = "not run"
    echo(_progress_line(i, total, rec))
  for rec in records:                # duplicates share the result of their first occurrence
    if rec.status == "pending" and rec.name in seen:
      first = seen[rec.name]
      rec.status, rec.results, rec.error = first.status, first.results, first.error
  if write_tables:   # figures share the runs folder but must not replace the table's manifest
    _write_tables(out, records, echo)
  return records


def _write_tables(out: Path, records: Sequence[cache.RunRecord], echo: Callable[[str], Any]):
  """grid.json and the tables, unless no run of this grid has finished (a table of n_seeds 0
  says nothing) or table.csv holds more finished runs than this grid."""
  rows = records_lib.records_to_rows(records)
  found = tables.count_finished(tables.aggregate(rows))
  if found == 0:
    echo(f"tables: not written: no run of this grid has finished (see the lines above); "
         f"{out / 'grid.json'} and the tables are left as they were")
    return
  held = tables.count_finished_csv(out / "table.csv")
  if held is not None and found < held:   # never replace a committed table with less
    echo(f"tables: not rewritten: this grid has {found} finished run(s), {out / 'table.csv'} "
         f"holds {held}; `python -m idw_jax.experiments.tables {out} --force` rebuilds them "
         "from the last grid.json")
    return
  _write_manifest(out, records)
  for line in tables.mixed_cpu_warnings(rows):
    echo(f"tables: warning: {line}")
  written = tables.write_all(rows, out)
  echo("tables: " + ", ".join(str(p) for p in written))


def _write_manifest(out: Path, records: Iterable[cache.RunRecord]):
  records_lib.write_json(out / "grid.json", {"runs": [r.summary() for r in records]})


# --------------------------------------------------------------------------------------- CLI
def main(argv):
  from absl import flags
  f = flags.FLAGS
  if len(argv) > 1:
    raise ValueError(f"unexpected argument(s) {argv[1:]}; the grid takes flags only (--help)")
  exp_cli.quiet_absl_logging()
  file, preset, overrides = exp_cli.experiment_config(f["config"])
  base = f["config"].value
  method_override = overrides.pop("method", None)
  seed_override = overrides.pop("seed", None)
  methods = exp_cli.parse_methods(f.methods) if f.methods else [method_override or base.method]
  seeds = exp_cli.parse_seeds(f.seeds) if f.seeds else [seed_override if seed_override is not None
                                                         else base.seed]
  sweep = exp_cli.parse_sweep(f.set or [])
  specs = specs_lib.make_specs(file, methods, seeds, sweep, overrides, preset)
  out = f.out or f"results/{base.data.name}"
  if f.out is None:
    exp_cli.refuse_committed_defaults({"--out": out})
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
  if not any(r.results for r in records):
    print("no run of the grid has finished: no table written")
    return 1
  return 0


def _define_flags():
  from absl import flags
  flags.DEFINE_string("methods", None, "Comma-separated methods, or 'all' (Table 1 order). "
                      "Default: the config's method.")
  flags.DEFINE_string("seeds", None, "Seeds: '0,1,2' or '0-4'. Default: the config's seed.")
  flags.DEFINE_multi_string("set", [], "A grid dimension: dotted.key=v1,v2,... (repeatable; "
                            "the grid is the product).")
  flags.DEFINE_string("out", None, "Results folder (default results/<data.name>; a folder git "
                      "tracks only when named here).")
  flags.DEFINE_integer("max_new_runs", None, "Compute at most this many unfinished runs.")
  flags.DEFINE_bool("reuse_pretraining", True, "IDW runs start from the finished run of their "
                    "base method (mur for mur_idw, same config and seed) when the grid has it.")
  exp_cli.define_execution_flags()
  exp_cli.define_config_flag()


if __name__ == "__main__":
  from idw_jax import cli
  _define_flags()
  cli.run(main)
