"""Tables 1 and 4 (mean +- std over seeds), table.csv and the head/tail comparison of Fig. 5.

  python -m idw_jax.experiments.tables results/ml1m [--force]

prints table.md (Markdown) and rebuilds table.md, table.csv, fig5.md and fig5.png in a grid's
out folder (their names go to stderr) from its committed files: the manifest grid.json and one
record per finished run, records/<name>.json (a run without a record is read from its folder's
runs/<name>/results.json, which is git-ignored; see idw_jax.experiments.grid for the layout).
So a fresh clone rebuilds the committed tables.

Nothing committed is overwritten with less: when table.csv exists and the runs found hold fewer
finished runs than it does, the command writes nothing, says what it found against what the
table holds, and exits with 1 (--force overwrites anyway). The measure is the sum of the csv's
n_seeds column, against the same sum over the new table (count_finished): it counts finished
runs only (a method without any has a row with n_seeds 0), and a run that belongs to several
sweep groups (e.g. the MUR reference of an eta sweep) counts once per group on both sides.

Only records the grid would accept are used (cache.accepted_rows): a record whose config is not
its run's (the grid calls it stale), a damaged record, or records of one table made from
different data files stop the command with one line per record naming it, and nothing is
written.

Input rows are {"method", "seed", "sweep": {field: value}, "results": results.json or None}
(records.records_to_rows / cache.accepted_rows). Rows with the same sweep values form a group
(one table per group, e.g. per cluster exponent); within a group, seeds of one method are
aggregated. Metrics are in percent as in results.json; std is the sample standard deviation
(ddof=1) over seeds, empty / omitted for a single seed.

Table 1 / Table 4 use the paper's protocol (sampled 1 + 99 ranking) where the dataset has it and
full-corpus ranking otherwise (the synthetic benchmark, 50 items); when both exist the
full-corpus tables follow. Fig. 5 is NDCG@20 on the overall/head/tail item sets, relative to MUR.

Arguments and flags: the grid's out folder (positional, one), --[no]force (overwrite a table
that holds more finished runs), --debug (the full traceback of a user error).
"""

from __future__ import annotations

import csv
import math
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from idw_jax import config as config_lib
from idw_jax import methods as methods_lib
from idw_jax import provenance
from idw_jax.experiments import cache
from idw_jax.experiments import plotting
from idw_jax.experiments import records

METRICS = ("HR@5", "NDCG@5", "HR@20", "NDCG@20")
SPLITS = ("overall", "head", "tail")
PROTOCOLS = ("sampled", "full")
NAMES = {m.name: m.title for m in methods_lib.TABLE}
PROTOCOL_TITLES = {"sampled": "sampled ranking (1 positive + 99 negatives)",
                   "full": "full-corpus ranking"}


def method_order(methods) -> list[str]:
  """The paper's row order (Table 1), unknown methods after it in first-seen order."""
  methods = list(dict.fromkeys(methods))
  known = [m for m in config_lib.METHODS if m in methods]
  return known + [m for m in methods if m not in known]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
  """Mean and sample standard deviation (ddof=1; nan for one value, nothing to estimate)."""
  a = np.asarray(values, np.float64)
  if a.size == 0:
    return math.nan, math.nan
  return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else math.nan


def _group_key(sweep: dict) -> tuple:
  return tuple(sorted((k, repr(v)) for k, v in sweep.items()))


def aggregate(rows: Sequence[dict]) -> list[dict]:
  """One entry per (sweep group, method) with n_seeds, M and mean/std per protocol/metric/split.

  Returns dicts {"sweep", "method", "n_seeds", "num_interests", "stats"} where
  stats[protocol][metric][split] = (mean, std) or None when no run has that protocol; groups in
  first-seen order, methods in the paper's order.
  """
  groups: dict[tuple, dict] = {}
  for row in rows:
    g = groups.setdefault(_group_key(row.get("sweep") or {}),
                          {"sweep": dict(row.get("sweep") or {}), "methods": {}})
    g["methods"].setdefault(row["method"], []).append(row)
  out = []
  for g in groups.values():
    for method in method_order(g["methods"]):
      done = [r["results"] for r in g["methods"][method] if r.get("results")]
      entry = {"sweep": g["sweep"], "method": method, "n_seeds": len(done),
               "num_interests": None, "silhouette": None, "stats": {}}
      if done:
        entry["num_interests"] = done[0]["config"]["model"]["num_interests"]
        sil = [r["silhouette"] for r in done if r.get("silhouette") is not None]
        entry["silhouette"] = mean_std(sil) if sil else None
      for protocol in PROTOCOLS:
        blocks = [r["test"][protocol] for r in done if r["test"].get(protocol)]
        if not blocks:
          entry["stats"][protocol] = None
          continue
        entry["stats"][protocol] = {
            metric: {split: mean_std([b[split][metric] for b in blocks]) for split in SPLITS}
            for metric in METRICS}
      out.append(entry)
  return out


def mixed_cpu_warnings(rows: Sequence[dict]) -> list[str]:
  """One line per table row (sweep group x method) whose finished runs ran on more than one
  CPU kind (provenance.cpu_identity; a record from before runs named their CPU counts as
  "CPU unknown"). Results are bit-identical per CPU only, so such a row mixes machines: each CPU
  is listed with its seeds, the unknown ones by record name."""
  groups: dict[tuple, dict[str, dict[str, list]]] = {}
  for row in rows:
    if not row.get("results"):
      continue
    key = (_group_key(row.get("sweep") or {}), row["method"])
    cpus = groups.setdefault(key, {})
    cpus.setdefault(provenance.cpu_identity(row["results"]), []).append(row)
  out = []
  for (group, method), cpus in groups.items():
    if len(cpus) < 2:
      continue
    title = ", ".join(f"{k} = {v}" for k, v in group)
    parts = []
    for cpu, runs in cpus.items():
      who = (", ".join(r.get("name") or f"seed {r['seed']}" for r in runs) if cpu == provenance.UNKNOWN
             else "seeds " + ", ".join(str(r["seed"]) for r in runs))
      parts.append(f"{cpu}: {who}")
    out.append(f"{NAMES.get(method, method)}{' (' + title + ')' if title else ''} mixes "
               f"{len(cpus)} CPUs (results are bit-identical per CPU only): " + "; ".join(parts))
  return out


def _groups(entries: Sequence[dict]) -> list[tuple[dict, list[dict]]]:
  groups: dict[tuple, tuple[dict, list]] = {}
  for e in entries:
    groups.setdefault(_group_key(e["sweep"]), (e["sweep"], []))[1].append(e)
  return list(groups.values())


def primary_protocol(entries: Sequence[dict]) -> str:
  return "sampled" if any(e["stats"].get("sampled") for e in entries) else "full"


# ------------------------------------------------------------------------------------ CSV
def csv_columns(sweep_keys: Sequence[str]) -> list[str]:
  cols = list(sweep_keys) + ["method", "n_seeds"]
  for prefix in ("", "full_"):
    for metric in METRICS:
      for split in SPLITS:
        cols += [f"{prefix}{metric}_{split}_mean", f"{prefix}{metric}_{split}_std"]
  return cols


def _num(x: float) -> str:
  return "" if x is None or not math.isfinite(x) else f"{x:.4f}"


def write_csv(entries: Sequence[dict], path: Path) -> Path:
  """One row per method (per sweep group): method, n_seeds, <metric>_<split>_mean/_std, full_*."""
  sweep_keys = list(dict.fromkeys(k for e in entries for k in e["sweep"]))
  cols = csv_columns(sweep_keys)
  with open(path, "w", newline="") as fh:
    writer = csv.writer(fh)
    writer.writerow(cols)
    for e in entries:
      row = [e["sweep"].get(k, "") for k in sweep_keys] + [e["method"], e["n_seeds"]]
      for protocol in ("sampled", "full"):
        stats = e["stats"].get(protocol)
        for metric in METRICS:
          for split in SPLITS:
            mean, std = stats[metric][split] if stats else (None, None)
            row += [_num(mean), _num(std)]
      writer.writerow(row)
  return path


# ------------------------------------------------------------------------------- Markdown
def _cell(mean: float, std: float, bold: bool) -> str:
  if mean is None or not math.isfinite(mean):
    return "-"
  text = f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None and math.isfinite(std) else "")
  return f"**{text}**" if bold else text


def metric_table(entries: Sequence[dict], protocol: str, metrics: Sequence[str],
                 split: str = "overall") -> str:
  """Markdown: Method | M | metrics (mean ± std, best per column bold) | seeds, + vs-SUR rows."""
  rows = [e for e in entries if e["stats"].get(protocol)]
  if not rows:
    return ""
  best = {}
  for metric in metrics:
    means = [round(e["stats"][protocol][metric][split][0], 2) for e in rows]
    best[metric] = max(means)
  lines = ["| Method | M | " + " | ".join(metrics) + " | seeds |",
           "|---|---|" + "---|" * len(metrics) + "---|"]
  for e in rows:
    cells = []
    for metric in metrics:
      mean, std = e["stats"][protocol][metric][split]
      cells.append(_cell(mean, std, round(mean, 2) == best[metric]))
    lines.append(f"| {NAMES.get(e['method'], e['method'])} | {e['num_interests']} | "
                 + " | ".join(cells) + f" | {e['n_seeds']} |")
  by_method = {e["method"]: e for e in rows}
  if "sur" in by_method:
    base = by_method["sur"]["stats"][protocol]
    for method in ("mur", "mur_idw"):
      if method in by_method:
        s = by_method[method]["stats"][protocol]
        rel = [_relative(s[m][split][0], base[m][split][0]) for m in metrics]
        lines.append(f"| {NAMES[method]} vs. SUR | - | " + " | ".join(rel) + " | |")
  return "\n".join(lines)


def _relative(value: float, base: float) -> str:
  if not (math.isfinite(value) and math.isfinite(base)) or base == 0:
    return "-"
  return f"{100.0 * (value - base) / base:+.2f}%"


def tables_markdown(entries: Sequence[dict], dataset: str = "") -> str:
  """Table 1 (HR@20, NDCG@20) and Table 4 (HR@5, NDCG@5) per sweep group, as Markdown."""
  out = [f"# Test metrics{' on ' + dataset if dataset else ''} (%, mean ± std over seeds; "
         "best per column in bold)", ""]
  for sweep, group in _groups(entries):
    if sweep:
      out += [f"## {plotting.sweep_title(sweep)}", ""]
    primary = primary_protocol(group)
    protocols = [primary] + [p for p in PROTOCOLS if p != primary and
                             any(e["stats"].get(p) for e in group)]
    for protocol in protocols:
      for title, metrics in (("Table 1", ("HR@20", "NDCG@20")), ("Table 4", ("HR@5", "NDCG@5"))):
        table = metric_table(group, protocol, metrics)
        if table:
          out += [f"**{title}** ({', '.join(metrics)}), {PROTOCOL_TITLES[protocol]}:", "",
                  table, ""]
    missing = [e["method"] for e in group if e["n_seeds"] == 0]
    if missing:
      out += [f"No finished run yet: {', '.join(missing)}.", ""]
  return "\n".join(out)


def fig5_entries(entries: Sequence[dict], metric: str = "NDCG@20") -> list[dict]:
  """Per group: {"sweep", "protocol", "base", "rows": [{"method", "values", "relative"}]}.

  values[split] is the mean metric; relative[split] the change vs MUR in percent.
  """
  out = []
  for sweep, group in _groups(entries):
    protocol = primary_protocol(group)
    by = {e["method"]: e for e in group if e["stats"].get(protocol)}
    if "mur" not in by:
      continue
    base = {s: by["mur"]["stats"][protocol][metric][s][0] for s in SPLITS}
    rows = []
    for method in method_order(by):
      values = {s: by[method]["stats"][protocol][metric][s][0] for s in SPLITS}
      rel = {s: (100.0 * (values[s] - base[s]) / base[s] if base[s] else math.nan)
             for s in SPLITS}
      rows.append({"method": method, "values": values, "relative": rel})
    out.append({"sweep": sweep, "protocol": protocol, "metric": metric, "rows": rows})
  return out


def fig5_markdown(groups: Sequence[dict], dataset: str = "") -> str:
  out = [f"# Fig. 5{': ' + dataset if dataset else ''}: NDCG@20 on overall / head / tail "
         "items, change relative to MUR on the same item set", ""]
  if not groups:
    return "\n".join(out + ["(needs finished MUR runs)", ""])
  for g in groups:
    if g["sweep"]:
      out += [f"## {plotting.sweep_title(g['sweep'])}", ""]
    out += [f"{PROTOCOL_TITLES[g['protocol']]}, {g['metric']} (%) and change vs. MUR:", "",
            "| Method | " + " | ".join(SPLITS) + " |", "|---|" + "---|" * len(SPLITS)]
    for r in g["rows"]:
      cells = [f"{r['values'][s]:.2f} ({r['relative'][s]:+.1f}%)"
               if r["method"] != "mur" else f"{r['values'][s]:.2f} (base)" for s in SPLITS]
      out.append(f"| {NAMES.get(r['method'], r['method'])} | " + " | ".join(cells) + " |")
    out.append("")
  return "\n".join(out)


def fig5_title(groups: Sequence[dict], dataset: str = "") -> str:
  return (f"Fig. 5{' ' + dataset if dataset else ''}: {groups[0]['metric']} per item set "
          f"relative to MUR ({PROTOCOL_TITLES[groups[0]['protocol']]})")


def _dataset(rows: Sequence[dict]) -> str:
  for r in rows:
    if r.get("results"):
      return r["results"].get("dataset", "")
  return ""


def write_all(rows: Sequence[dict], out: str | Path) -> list[Path]:
  """table.md, table.csv, fig5.md, fig5.png under `out`; returns the paths written."""
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  entries = aggregate(rows)
  dataset = _dataset(rows)
  written = []
  (out / "table.md").write_text(tables_markdown(entries, dataset))
  written.append(out / "table.md")
  written.append(write_csv(entries, out / "table.csv"))
  groups = fig5_entries(entries)
  (out / "fig5.md").write_text(fig5_markdown(groups, dataset))
  written.append(out / "fig5.md")
  if groups:
    written.append(plotting.fig5(groups, out / "fig5.png", fig5_title(groups, dataset)))
  return written


def count_finished(entries: Sequence[dict]) -> int:
  """Finished runs in a table: the sum of n_seeds over its rows (aggregate entries)."""
  return sum(e["n_seeds"] for e in entries)


def count_finished_csv(path: str | Path) -> int | None:
  """The same count for an existing table.csv (sum of its n_seeds column); None without one."""
  path = Path(path)
  if not path.exists():
    return None
  with open(path, newline="") as fh:
    return sum(int(row.get("n_seeds") or 0) for row in csv.DictReader(fh))


def rebuild(out: str | os.PathLike, force: bool = False) -> int:
  """The command: the tables of the grid folder `out` from its manifest and records, table.md
  printed on stdout and the files written named on stderr; 0 when written, 1 when refused (a
  record the grid would call stale, a damaged file, no finished run, or fewer than table.csv
  holds without force), 2 when `out` is not a grid folder.
  Errors are one line on stderr (one per refused record)."""
  out = Path(out)
  try:
    rows = cache.accepted_rows(out)
  except cache.StaleRecords as e:
    for line in e.lines:
      print(f"tables: error: {line}", file=sys.stderr)
    print(f"tables: error: {len(e.lines)} refusal(s) above: no table written", file=sys.stderr)
    return 1
  except ValueError as e:
    print(f"tables: error: {e}", file=sys.stderr)
    return 1 if isinstance(e, records.DamagedFile) else 2
  found, held = count_finished(aggregate(rows)), count_finished_csv(out / "table.csv")
  if found == 0:
    print(f"tables: error: {out / 'grid.json'} lists {len(rows)} run(s) and none has finished "
          "(no record in records/, no results.json in runs/): no table written", file=sys.stderr)
    return 1
  if not force and held is not None and found < held:
    print(f"tables: not overwriting {out / 'table.md'} / table.csv: found {found} finished "
          f"run(s) (records/ or runs/*/results.json), the existing table.csv holds {held}; "
          "--force overwrites", file=sys.stderr)
    return 1
  for line in mixed_cpu_warnings(rows):
    print(f"tables: warning: {line}", file=sys.stderr)
  written = write_all(rows, out)
  print((out / "table.md").read_text(), end="")
  print("tables: wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
  return 0


def main(argv: Sequence[str]) -> int:
  from absl import flags
  if len(argv) != 2:
    print("usage: python -m idw_jax.experiments.tables <grid out folder> [--force] (--help)",
          file=sys.stderr)
    return 2
  return rebuild(argv[1], force=flags.FLAGS.force)


def _define_flags():
  from absl import flags
  flags.DEFINE_bool("force", False, "Overwrite table.md / table.csv even when the runs found "
                    "hold fewer finished runs than the existing table.csv.")


if __name__ == "__main__":
  from idw_jax import cli
  _define_flags()
  cli.run(main)
