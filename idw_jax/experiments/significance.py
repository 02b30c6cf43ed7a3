"""Which differences between methods are real: paired tests over seeds, corrected for the number
of comparisons, with intervals that resample seeds as well as test windows.

  python -m idw_jax.experiments.significance results/ml1m [--metric=NDCG@20] [--against=mur]
  python -m idw_jax.experiments.significance --a='results/x/records/run-seed*.json' \
      --b='results/y/records/base-seed*.json' [--label_a=IDW] [--label_b=MUR]

The second form compares any two sets of run records (comma-separated globs), paired by their
seeds.

For every method against a reference method (MUR by default) and each of METRICS (test NDCG@20
and HR@20 on the sampled protocol, NDCG@20 over the full corpus; leave-one-out runs: LOO_METRICS,
NDCG@10 and HR@10 sampled, NDCG@10 over the full corpus without the user's history; --metric=X:
X on every ranking the runs have):
- the mean difference and a paired t-test over seeds (the same seed's runs form a pair);
- Holm's correction of those p-values within the family: one table (its methods) on one metric;
- two 95% bootstrap intervals from the runs' test ranks (records/<name>.test_ranks.npz): over
  test windows with the seeds fixed (the test set's noise alone), and over seeds, then windows
  (hierarchical: also the spread between training seeds, which 5 seeds measure poorly).
A difference is "real" when the Holm-corrected p < 0.05 and the hierarchical interval excludes
0; "n/a" without ranks (a line under the table names the ranks files missing: runs made before
ranks were saved) or with one seed. A last table sets the verdicts of the metrics side by side
and says where they disagree. A swept grid (--set with several values) gives these tables once
per grid point, each titled with its point (e.g. `wake_max_epochs = 0.5`): runs of different
configs are never paired or pooled. Only records the grid would accept are read
(cache.accepted_rows): a stale or damaged record, or records of one point made from different
data, stop the command with one line each. Writes <out>/significance.md (with --against=X other
than mur, significance_vs_X.md).

Arguments and flags: the grid's out folder (positional, one) or --a / --b, not both;
  --metric    HR@K or NDCG@K, on every ranking (default: the three of METRICS or LOO_METRICS)
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

from idw_jax.experiments import cache
from idw_jax.experiments import plotting
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


def _window_draws(n: int, num_samples: int, seed: int):
  """The window index draws of both bootstraps (the same stream: they agree when seeds do)."""
  rng = np.random.default_rng(seed)
  for _ in range(num_samples):
    yield rng.integers(0, n, n)


def paired_bootstrap(ranks_a: Sequence[np.ndarray], ranks_b: Sequence[np.ndarray],
                     metric: str = "NDCG@20", num_samples: int = 2000,
                     seed: int = 0) -> tuple[float, float, float]:
  """(mean difference, 2.5%, 97.5% quantiles) of the window-resampled mean of a - b.

  ranks_a[s], ranks_b[s]: test ranks of the two methods' runs with seed s (same windows).
  Each window's difference is averaged over the seeds before the windows are resampled, so the
  interval measures the test set's sampling noise, not the spread between training seeds (the
  paired t-test over seeds measures that). Not scipy.stats.bootstrap(method="percentile"): the
  same rng gives it the same replicates, but its percentile differs from np.quantile by 1 ulp.
  """
  if len(ranks_a) != len(ranks_b) or not ranks_a:
    raise ValueError("need the same, non-zero number of runs of both methods")
  d = np.mean([per_window(a, metric) - per_window(b, metric)
               for a, b in zip(ranks_a, ranks_b)], axis=0)
  means = np.empty(num_samples)
  for i, windows in enumerate(_window_draws(d.size, num_samples, seed)):
    means[i] = d[windows].mean()
  lo, hi = np.quantile(means, [0.025, 0.975])
  return float(d.mean()), float(lo), float(hi)


# The comparisons every table makes: (protocol, metric). The paper's Table 1 metrics on its
# sampled protocol, and NDCG@20 over the full corpus.
METRICS = (("sampled", "NDCG@20"), ("sampled", "HR@20"), ("full", "NDCG@20"))
# Under SASRec's leave-one-out protocol (records with a "full_no_history" ranking): the field's
# metrics at K = 10 on its sampled ranking (1 + 100) and the full corpus with the user's history
# taken out (how the published full-corpus rows rank).
LOO_METRICS = (("sampled", "NDCG@10"), ("sampled", "HR@10"), ("full_no_history", "NDCG@10"))
RANKINGS = {"sampled": "sampled (1 + 99)", "full": "full corpus",
            "full_no_history": "full corpus, history removed"}
ALPHA = 0.05


def holm(pvalues: Sequence[float]) -> list[float]:
  """Holm's step-down adjusted p-values (family-wise error), in the input order: the k-th
  smallest of m p-values is multiplied by m - k + 1, then made non-decreasing and capped at 1.
  NaN entries (no test) stay NaN and are not counted in m."""
  p = np.asarray(pvalues, np.float64)
  out = np.full(p.shape, math.nan)
  ok = np.flatnonzero(~np.isnan(p))
  m = ok.size
  running = 0.0
  for k, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
    running = max(running, min(1.0, (m - k) * p[i]))
    out[i] = running
  return out.tolist()


def hierarchical_bootstrap(ranks_a: Sequence[np.ndarray], ranks_b: Sequence[np.ndarray],
                           metric: str = "NDCG@20", num_samples: int = 2000,
                           seed: int = 0) -> tuple[float, float, float]:
  """(mean difference, 2.5%, 97.5% quantiles) of a - b resampling seeds, then test windows.

  ranks_a[s], ranks_b[s]: the two methods' test ranks of seed s (the same windows: the split
  depends on data.seed alone). Each replicate draws len(ranks_a) seeds with replacement and one
  resample of the windows, shared by the drawn seeds (the windows are the same users in every
  seed: a crossed design), and averages the per-window differences over both. With every seed
  the same run it equals `paired_bootstrap` (the same window draws); it widens with the spread
  between seeds, which the window-only interval ignores. (scipy.stats.bootstrap resamples one
  level only, hence this loop.)
  """
  if len(ranks_a) != len(ranks_b) or not ranks_a:
    raise ValueError("need the same, non-zero number of runs of both methods")
  d = np.stack([per_window(a, metric) - per_window(b, metric) for a, b in zip(ranks_a, ranks_b)])
  seeds = np.random.default_rng([seed, 1])
  means = np.empty(num_samples)
  for i, windows in enumerate(_window_draws(d.shape[1], num_samples, seed)):
    means[i] = d[seeds.integers(0, d.shape[0], d.shape[0])].mean(axis=0)[windows].mean()
  lo, hi = np.quantile(means, [0.025, 0.975])
  return float(d.mean(axis=0).mean()), float(lo), float(hi)


def compare(rows: Sequence[dict], against: str = "mur", comparisons=METRICS,
            num_samples: int = 2000) -> list[dict]:
  """One entry per method (not `against`) with, per (protocol, metric) of `comparisons`: the
  paired mean difference over seeds, the paired t-test's p, Holm's p within the family (this
  table's methods on that metric), the window-only and the seeds-and-windows (hierarchical)
  bootstrap intervals, and a verdict.

  rows: {"method", "seed", "results", "ranks"} (ranks: {"sampled", "full"} arrays or None);
  only rows with results count, paired by seed. Entry: {"method", "seeds", "tests":
  {(protocol, metric): {"diff", "p", "p_holm", "family", "ci_windows", "ci_hier", "verdict"}}};
  a protocol the runs lack gives no test.
  """
  by: dict[str, dict] = {}
  for r in rows:
    if r.get("results"):
      by.setdefault(r["method"], {})[r["seed"]] = r
  ref = by.get(against, {})
  out = []
  for method, runs in by.items():
    if method == against:
      continue
    seeds = sorted(set(runs) & set(ref))
    entry = {"method": method, "seeds": seeds, "tests": {}}
    for kind, metric in comparisons:
      test = _one_test([runs[s] for s in seeds], [ref[s] for s in seeds], kind, metric,
                       num_samples)
      if test is not None:
        entry["tests"][(kind, metric)] = test
    out.append(entry)
  for key in comparisons:   # Holm over the family: this table's rows on one metric
    family = [e["tests"][key] for e in out if key in e["tests"]]
    for test, p in zip(family, holm([t["p"] for t in family])):
      test["p_holm"], test["family"] = p, sum(not math.isnan(t["p"]) for t in family)
      test["verdict"] = verdict(test, len(test["seeds"]))
  return out


def _one_test(runs: list, refs: list, kind: str, metric: str, num_samples: int) -> dict | None:
  """The paired test of runs against refs (the same seeds, in order) on one metric."""
  if not runs or any(not r["results"]["test"].get(kind) for r in runs + refs):
    return None
  if any(metric not in r["results"]["test"][kind]["overall"] for r in runs + refs):
    return None
  value = lambda r: r["results"]["test"][kind]["overall"][metric]  # noqa: E731
  diff, p = paired_t([value(r) for r in runs], [value(r) for r in refs])
  test = {"diff": diff, "p": p, "seeds": [r["seed"] for r in runs], "ci_windows": None,
          "ci_hier": None}
  ranks = [((r.get("ranks") or {}).get(kind), (b.get("ranks") or {}).get(kind))
           for r, b in zip(runs, refs)]
  if all(a is not None and b is not None for a, b in ranks):
    a, b = [x for x, _ in ranks], [y for _, y in ranks]
    test["ci_windows"] = paired_bootstrap(a, b, metric, num_samples)[1:]
    test["ci_hier"] = hierarchical_bootstrap(a, b, metric, num_samples)[1:]
  else:
    test["no_ranks"] = [_why_no_ranks(r, kind) for r in runs + refs
                        if (r.get("ranks") or {}).get(kind) is None]
  return test


def _why_no_ranks(row: dict, kind: str) -> str:
  """Which ranks file a run lacks: "<file> missing" or "<file> has no <kind> ranks"."""
  path = row.get("ranks_file") or f"{row.get('name') or 'seed ' + str(row['seed'])}'s ranks"
  return f"{path} missing" if row.get("ranks") is None else f"{path} has no {kind} ranks"


def verdict(test: dict, seeds: int) -> str:
  """"real": Holm-corrected p < 0.05 and the seeds-and-windows interval excludes 0; "noise":
  not both; "n/a": no interval (no test ranks) or fewer than two seeds (no p)."""
  if test["ci_hier"] is None or seeds < 2:
    return "n/a"
  lo, hi = test["ci_hier"]
  real = test["p_holm"] < ALPHA and (lo > 0 or hi < 0)
  return "real" if real else "noise"


def _p(p: float) -> str:
  return "-" if math.isnan(p) else f"{p:.3f}"


def _ci(ci) -> str:
  return "-" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def markdown(entries: Sequence[dict], against: str, dataset: str = "",
             comparisons=METRICS, points: Sequence[tuple[dict, list[dict]]] | None = None) -> str:
  """A table per (protocol, metric), each a Holm family, then the verdicts side by side; with
  `points` ([(grid point, its entries)], a swept grid), those tables once per point, under a
  title naming it."""
  name = lambda m: NAMES.get(m, m)  # noqa: E731
  head = f"{dataset + ': ' if dataset else ''}against {name(against)}"
  lines = [f"## {head}", "",
           "Paired over seeds (the same seed's runs of both methods). p: paired t-test over "
           "seeds; Holm p: corrected within the table (one family per table and metric). "
           "Intervals (95%, bootstrap): windows = test windows resampled, seeds fixed (the "
           "test set's noise); seeds x windows = seeds resampled, then windows (the spread "
           f"between training seeds too). Real: Holm p < {ALPHA} and the seeds x windows "
           "interval excludes 0.", ""]
  if points is None:
    return "\n".join(lines + _point_tables(entries, comparisons, "###"))
  lines += [("Each grid point is compared on its own (its runs against the reference's runs "
             "of the same point; Holm within the point)."), ""]
  for point, point_entries in points:
    lines += [f"### {plotting.sweep_title(point)}", ""]
    if not any(e["tests"] for e in point_entries):
      lines += [f"No paired runs of {name(against)} and another method at this point.", ""]
    lines += _point_tables(point_entries, comparisons, "####")
  return "\n".join(lines)


def _point_tables(entries: Sequence[dict], comparisons, level: str) -> list[str]:
  """The tables of one grid point (markdown), headed at `level` ("###")."""
  def name(m):
    return NAMES.get(m, m)
  lines = []
  loo = any(kind == "full_no_history" for kind, _ in comparisons)
  for key in comparisons:
    rows = [e for e in entries if key in e["tests"]]
    if not rows:
      continue
    kind, metric = key
    family = rows[0]["tests"][key]["family"]
    label = RANKINGS[kind] if kind != "sampled" or not loo else "sampled (1 + 100)"
    lines += [f"{level} {metric}, {label} "
              f"(Holm family: {family} test{'s' if family != 1 else ''})", "",
              "| method | seeds | difference | p | Holm p | windows 95% | seeds x windows 95% "
              "| verdict |", "|---|---|---|---|---|---|---|---|"]
    for e in rows:
      t = e["tests"][key]
      lines.append(f"| {name(e['method'])} | {len(t['seeds'])} | {t['diff']:+.2f} | "
                   f"{_p(t['p'])} | {_p(t['p_holm'])} | {_ci(t['ci_windows'])} | "
                   f"{_ci(t['ci_hier'])} | {t['verdict']} |")
    lines.append("")
    missing = list(dict.fromkeys(m for e in rows for m in e["tests"][key].get("no_ranks", ())))
    if missing:
      lines += [(f"n/a (no test ranks: {', '.join(missing)}; runs made before ranks were "
                 "saved): no intervals, so no verdict."), ""]
  keys = [k for k in comparisons if any(k in e["tests"] for e in entries)]
  if len(keys) > 1:
    short = {"sampled": "sampled", "full": "full", "full_no_history": "full, no history"}
    titles = [f"{m} {short[k]}" for k, m in keys]
    lines += [f"{level} Verdicts side by side", "",
              "| method | " + " | ".join(titles) + " | metrics agree? |",
              "|---|" + "---|" * (len(keys) + 1)]
    for e in entries:
      cells = [_short(e["tests"].get(k)) for k in keys]
      lines.append(f"| {name(e['method'])} | " + " | ".join(cells) + f" | {_agree(e, keys)} |")
    lines.append("")
  return lines


def _short(test: dict | None) -> str:
  return "-" if test is None else f"{test['diff']:+.2f} {test['verdict']}"


def _agree(entry: dict, keys) -> str:
  """"yes" when every metric gives the same verdict in the same direction; else "mixed"."""
  tests = [entry["tests"][k] for k in keys if k in entry["tests"]]
  calls = {(t["verdict"], t["verdict"] == "real" and t["diff"] > 0) for t in tests}
  return "yes" if len(calls) == 1 else "mixed"


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
    ranks = path.with_name(f"{path.stem}.test_ranks.npz")
    rows.append({"method": label, "seed": seed, "results": results, "name": path.stem,
                 "ranks": records.load_ranks(ranks), "ranks_file": str(ranks)})
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


def _compare_record_sets(a: str, b: str, label_a: str, label_b: str, metric: str | None) -> int:
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
  comparisons = _comparisons(metric, rows)
  mixed = _mixed_data(rows)
  if mixed:
    print(f"error: {mixed}", file=sys.stderr)
    return 1
  seeds = {k: sorted(r["seed"] for r in rows if r["method"] == lab)
           for k, lab in (("a", la), ("b", lb))}
  if not set(seeds["a"]) & set(seeds["b"]):
    print(f"error: no seed in common: --a has seeds {seeds['a']}, --b has {seeds['b']}",
          file=sys.stderr)
    return 2
  try:
    entries = _tested(compare(rows, lb, comparisons), comparisons)
  except (KeyError, ValueError) as e:
    print(f"error: --metric={metric!r}: not a recorded metric ({e})", file=sys.stderr)
    return 2
  print(markdown(entries, lb, comparisons=comparisons))
  return 0


def _mixed_data(rows: Sequence[dict]) -> str:
  """'' when the records compared carry one data fingerprint (or none: made before
  fingerprints); else one line naming the files of each."""
  by: dict[str, list[str]] = {}
  for r in rows:
    fp = r["results"].get("data_fingerprint")
    if fp is not None:
      by.setdefault(fp, []).append(r["name"])
  if len(by) < 2:
    return ""
  parts = "; ".join(f"{fp[:19]}...: {', '.join(names)}" for fp, names in by.items())
  return f"the records were made from different data ({parts}); compare runs of one data file"


def _tested(entries: list[dict], comparisons) -> list[dict]:
  """entries, or a ValueError when no comparison found its metric in the records."""
  if entries and not any(e["tests"] for e in entries):
    raise ValueError("no record holds " + ", ".join(f"{k} {m}" for k, m in comparisons))
  return entries


def _points(rows: Sequence[dict]) -> list[tuple[dict, list[dict]]]:
  """[(grid point, its rows)] in first-seen order: a swept grid's runs of one config each."""
  groups: dict[str, tuple[dict, list[dict]]] = {}
  for r in rows:
    sweep = r.get("sweep") or {}
    key = json.dumps(sorted((k, repr(v)) for k, v in sweep.items()))
    groups.setdefault(key, (sweep, []))[1].append(r)
  return list(groups.values())


def _comparisons(metric: str | None, rows: Sequence[dict] = ()):
  """metric X: X on every ranking the runs have (sampled, full and, under leave-one-out, full
  without the history); None: METRICS, or LOO_METRICS for leave-one-out runs."""
  loo = any((r.get("results") or {}).get("test", {}).get("full_no_history") is not None
            for r in rows)
  if metric is None:
    return LOO_METRICS if loo else METRICS
  return (("sampled", metric), ("full", metric)) + ((("full_no_history", metric),) if loo else ())


def run(folders: Sequence[str], metric: str | None = None, against: str | None = None,
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
    rows = cache.accepted_rows(out, with_ranks=True)
  except cache.StaleRecords as e:
    for line in e.lines:
      print(f"error: {line}", file=sys.stderr)
    print(f"error: {len(e.lines)} refusal(s) above: nothing compared", file=sys.stderr)
    return 1
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1 if isinstance(e, records.DamagedFile) else 2
  comparisons, against = _comparisons(metric, rows), against or "mur"
  finished = sorted({r["method"] for r in rows if r.get("results")})
  if against not in finished:
    print(f"error: --against={against!r}: no finished run of it in {out / 'grid.json'} "
          f"(finished: {', '.join(finished) or 'none'})", file=sys.stderr)
    return 2
  dataset = next((r["results"]["dataset"] for r in rows if r.get("results")), "")
  points = _points(rows)
  try:
    tested = [(point, compare(group, against, comparisons)) for point, group in points]
    _tested([e for _, entries in tested for e in entries], comparisons)
  except (KeyError, ValueError) as e:
    print(f"error: --metric={metric!r}: not a recorded metric ({e})", file=sys.stderr)
    return 2
  if len(tested) == 1 and not tested[0][0]:    # no sweep: one set of tables
    text = markdown(tested[0][1], against, dataset, comparisons)
  else:
    text = markdown([], against, dataset, comparisons, points=tested)
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
  flags.DEFINE_string("metric", None, "Compare this metric (HR@K or NDCG@K) on every ranking "
                      "the runs have; default: sampled NDCG@20 and HR@20, full-corpus NDCG@20 "
                      "(leave-one-out runs: sampled NDCG@10 and HR@10, full-corpus NDCG@10 "
                      "without the history).")
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
