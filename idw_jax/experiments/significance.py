"""Which differences between methods are real: paired tests over seeds and over test users.

  python -m idw_jax.experiments.significance results/ml1m [--metric=NDCG@20] [--against=mur]
  python -m idw_jax.experiments.significance --a='results/x/records/run-seed*.json' \
      --b='results/y/records/base-seed*.json' [--label_a=IDW] [--label_b=MUR]

The second form compares any two sets of run records (comma-separated globs), paired by their
seeds.

For every method against a reference method (MUR by default), on the primary protocol (sampled
where the dataset has it, else full corpus):
- a paired t-test over seeds (the same seed's runs of both methods form a pair; the paper
  reports five runs), on the metric as recorded;
- a paired bootstrap over test windows (users): per window, the metric difference between the
  two methods averaged over the paired seeds; windows resampled with replacement; the 95%
  interval of the mean difference. It needs each run's test ranks
  (records/<name>.test_ranks.npz, written by runs made since they were added).
A difference is called real when the bootstrap interval excludes 0 and, with at least three
paired seeds, the t-test's p < 0.05. Writes <out>/significance.md (with --against=X other than
mur, significance_vs_X.md).

Arguments and flags: the grid's out folder (positional, one) or --a / --b, not both;
  --metric    HR@K or NDCG@K (default NDCG@20)
  --against   the reference method of the grid-folder form (default mur)
  --a, --b    the --a/--b form: comma-separated globs of record files (records/<name>.json)
  --label_a, --label_b   their names in the table (default a, b)
  --debug     the full traceback of a user error instead of one line
"""

from __future__ import annotations

import glob
import json
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from idw_jax import metrics
from idw_jax.experiments import records
from idw_jax.experiments.tables import NAMES


def per_window(ranks: np.ndarray, metric: str) -> np.ndarray:
  """Per-window HR@K or NDCG@K in percent from 0-based ranks (the recorded metrics' mean)."""
  name, k = metric.split("@")
  r = np.asarray(ranks, np.int64)
  hit = r < int(k)
  if name == "HR":
    return 100.0 * hit
  if name == "NDCG":
    return 100.0 * np.where(hit, 1.0 / np.log2(r + 2.0), 0.0)
  raise ValueError(f"metric must be HR@K or NDCG@K, got {metric!r}")


def paired_t(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
  """(mean of a - b, two-sided p of the paired t-test); p is nan below two pairs or when every
  difference is the same."""
  d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
  if d.size < 2 or np.all(d == d[0]):
    return float(d.mean()) if d.size else math.nan, math.nan
  from scipy import stats
  return float(d.mean()), float(stats.ttest_rel(a, b).pvalue)


def paired_bootstrap(ranks_a: Sequence[np.ndarray], ranks_b: Sequence[np.ndarray],
                     metric: str = "NDCG@20", num_samples: int = 2000,
                     seed: int = 0) -> tuple[float, float, float]:
  """(mean difference, 2.5%, 97.5% quantiles) of the window-resampled mean of a - b.

  ranks_a[s], ranks_b[s]: test ranks of the two methods' runs with seed s (same windows).
  Each window's difference is averaged over the seeds before the windows are resampled, so the
  interval measures the test set's sampling noise, not the spread between training seeds (the
  paired t-test over seeds measures that).
  """
  if len(ranks_a) != len(ranks_b) or not ranks_a:
    raise ValueError("need the same, non-zero number of runs of both methods")
  d = np.mean([per_window(a, metric) - per_window(b, metric)
               for a, b in zip(ranks_a, ranks_b)], axis=0)
  rng = np.random.default_rng(seed)
  n = d.size
  means = np.empty(num_samples)
  for i in range(num_samples):
    means[i] = d[rng.integers(0, n, n)].mean()
  lo, hi = np.quantile(means, [0.025, 0.975])
  return float(d.mean()), float(lo), float(hi)


def compare(rows: Sequence[dict], metric: str = "NDCG@20", against: str = "mur",
            num_samples: int = 2000) -> list[dict]:
  """One entry per method (not `against`): pairs, mean difference, t-test p, bootstrap CI.

  rows: {"method", "seed", "results", "ranks"} (ranks: {"sampled", "full"} arrays or None);
  only rows with results count, paired by seed.
  """
  by = {}
  for r in rows:
    if r.get("results"):
      by.setdefault(r["method"], {})[r["seed"]] = r
  ref = by.get(against, {})
  out = []
  for method, runs in by.items():
    if method == against:
      continue
    seeds = sorted(set(runs) & set(ref))
    entry = {"method": method, "seeds": seeds, "protocol": None, "diff": math.nan,
             "p": math.nan, "ci": None}
    if seeds:
      kind = metrics.primary_kind(runs[seeds[0]]["results"]["test"])
      value = lambda r: r["results"]["test"][kind]["overall"][metric]  # noqa: E731
      entry["protocol"] = kind
      entry["diff"], entry["p"] = paired_t([value(runs[s]) for s in seeds],
                                           [value(ref[s]) for s in seeds])
      have = [s for s in seeds if (runs[s].get("ranks") or {}).get(kind) is not None
              and (ref[s].get("ranks") or {}).get(kind) is not None]
      if have == seeds:
        _, lo, hi = paired_bootstrap([runs[s]["ranks"][kind] for s in seeds],
                                     [ref[s]["ranks"][kind] for s in seeds], metric,
                                     num_samples)
        entry["ci"] = (lo, hi)
    out.append(entry)
  return out


def verdict(entry: dict) -> str:
  """"real" (CI excludes 0, and p < 0.05 when there are >= 3 seeds), "noise", or "n/a"."""
  if entry["ci"] is None:
    return "n/a"
  lo, hi = entry["ci"]
  excludes = lo > 0 or hi < 0
  if len(entry["seeds"]) >= 3 and not (entry["p"] < 0.05):
    return "noise"
  return "real" if excludes else "noise"


def markdown(entries: Sequence[dict], metric: str, against: str, dataset: str = "") -> str:
  lines = [f"### {dataset + ': ' if dataset else ''}{metric} against {NAMES.get(against, against)}"
           " (paired over seeds and over test windows)", "",
           "| method | seeds | difference | paired t-test p | bootstrap 95% interval | verdict |",
           "|---|---|---|---|---|---|"]
  for e in entries:
    ci = "-" if e["ci"] is None else f"[{e['ci'][0]:+.2f}, {e['ci'][1]:+.2f}]"
    p = "-" if math.isnan(e["p"]) else f"{e['p']:.3f}"
    lines.append(f"| {NAMES.get(e['method'], e['method'])} | {len(e['seeds'])} | "
                 f"{e['diff']:+.2f} | {p} | {ci} | {verdict(e)} |")
  return "\n".join(lines) + "\n"


def rows_from_records(paths: Sequence[str], label: str) -> list[dict]:
  """Rows for `compare` from record files (records/<name>.json and the .test_ranks.npz beside
  it), all under one label, each with its record's seed."""
  rows = []
  for path in map(Path, paths):
    try:
      results = json.loads(path.read_text())
      seed = int(results["seed"])
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise ValueError(f"{path}: not a run record ({type(e).__name__}: {e})") from None
    rows.append({"method": label, "seed": seed, "results": results,
                 "ranks": records.load_ranks(path.with_name(f"{path.stem}.test_ranks.npz"))})
  seen: dict[int, Path] = {}
  for path, r in zip(paths, rows):
    if r["seed"] in seen:
      raise ValueError(f"{label}: {seen[r['seed']]} and {path} are both seed {r['seed']}; "
                       "narrow the glob to one run per seed")
    seen[r["seed"]] = path
  return rows


_USAGE = ("usage: python -m idw_jax.experiments.significance <grid out folder> "
          "[--metric=NDCG@20] [--against=mur]  |  --a=GLOB[,GLOB] --b=GLOB[,GLOB] "
          "[--label_a=a] [--label_b=b] [--metric=NDCG@20]")


def _compare_record_sets(a: str, b: str, label_a: str, label_b: str, metric: str) -> int:
  """The --a/--b form: two sets of record files (comma-separated globs), paired by seed."""
  globs = {"a": a, "b": b}
  paths = {k: sorted({p for g in globs[k].split(",") if g for p in glob.glob(g)
                      if p.endswith(".json")}) for k in ("a", "b")}
  for k, found in paths.items():
    if not found:
      print(f"error: --{k}={globs[k]!r} matches no record file (*.json)", file=sys.stderr)
      return 2
  la, lb = label_a, label_b
  if la == lb:
    print(f"error: --label_a and --label_b are both {la!r}", file=sys.stderr)
    return 2
  try:
    rows = rows_from_records(paths["a"], la) + rows_from_records(paths["b"], lb)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  seeds = {k: sorted(r["seed"] for r in rows if r["method"] == lab)
           for k, lab in (("a", la), ("b", lb))}
  if not set(seeds["a"]) & set(seeds["b"]):
    print(f"error: no seed in common: --a has seeds {seeds['a']}, --b has {seeds['b']}",
          file=sys.stderr)
    return 2
  try:
    entries = compare(rows, metric, lb)
  except (KeyError, ValueError) as e:
    print(f"error: --metric={metric!r}: not a recorded metric ({e})", file=sys.stderr)
    return 2
  print(markdown(entries, metric, lb))
  return 0


def run(folders: Sequence[str], metric: str = "NDCG@20", against: str | None = None,
        a: str | None = None, b: str | None = None, label_a: str = "a",
        label_b: str = "b") -> int:
  """The command (module docstring): one grid folder against `against` (None: mur), or the
  record sets a and b. Returns the exit code; a user error is one line on stderr and 2."""
  if a is not None or b is not None:   # two sets of records, paired by seed
    if folders or against is not None:
      print(_USAGE, file=sys.stderr)
      return 2
    return _compare_record_sets(a or "", b or "", label_a, label_b, metric)
  if len(folders) != 1:
    print(_USAGE, file=sys.stderr)
    return 2
  out = Path(folders[0])
  try:
    rows = records.rows_from_manifest(out, with_ranks=True)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  against = against or "mur"
  finished = sorted({r["method"] for r in rows if r.get("results")})
  if against not in finished:
    print(f"error: --against={against!r}: no finished run of it in {out / 'grid.json'} "
          f"(finished: {', '.join(finished) or 'none'})", file=sys.stderr)
    return 2
  dataset = next((r["results"]["dataset"] for r in rows if r.get("results")), "")
  try:
    entries = compare(rows, metric, against)
  except (KeyError, ValueError) as e:
    print(f"error: --metric={metric!r}: not a recorded metric ({e})", file=sys.stderr)
    return 2
  text = markdown(entries, metric, against, dataset)
  name = "significance.md" if against == "mur" else f"significance_vs_{against}.md"
  (out / name).write_text(text)   # --against=sur does not overwrite the table against MUR
  print(text)
  return 0


def main(argv: Sequence[str]) -> int:
  from absl import flags
  f = flags.FLAGS
  return run(argv[1:], metric=f.metric, against=f.against if f["against"].present else None,
             a=f.a, b=f.b, label_a=f.label_a, label_b=f.label_b)


def _define_flags():
  from absl import flags
  flags.DEFINE_string("metric", "NDCG@20", "The metric compared: HR@K or NDCG@K.")
  flags.DEFINE_string("against", "mur", "The reference method of the grid-folder form.")
  flags.DEFINE_string("a", None, "Record files of the first set: comma-separated globs "
                      "(records/<name>.json); paired by seed with --b.")
  flags.DEFINE_string("b", None, "Record files of the second set (the reference), as --a.")
  flags.DEFINE_string("label_a", "a", "The first set's name in the table.")
  flags.DEFINE_string("label_b", "b", "The second set's name in the table.")


if __name__ == "__main__":
  from idw_jax import cli
  _define_flags()
  cli.run(main)
