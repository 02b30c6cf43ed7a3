r"""IDW's hyper-parameter search as in Sec. 4.4: momentum m x stopping threshold eta, selected on
validation NDCG@20.

  python -m idw_jax.experiments.search --config=configs/ml1m.py --methods=mur_idw,sur_idw \
      --seeds=0 --momenta=0.7,0.8,0.9,0.99 --etas=1e-4,2e-4,3e-4,4e-4 --max_iterations=32

Runs (or reads from records) every (method, m, eta, seed) through the grid under --out (default
results/<dataset>-idw-search; each IDW run starts from its base run's pretraining when that run's
folder is there), then writes the selection table (default results/<dataset>/idw_search.md):
per method and (m, eta), the validation metric (the selection criterion, mean over seeds), the
number of wake phases each run took and whether eta or the cap (idw.max_iterations) ended the
loop, and the test metrics. The selected (m, eta) is the one with the best mean validation
metric; rerunning with more seeds or values adds to the same table.

Controls (--controls, default on): an IDW run also trains longer than its base run (one wake
phase after another), so for every finished IDW run the search also runs the same loop with
m = 1 and eta = 0 for as many wake phases (the weights stay at p: the wake phases are plain
training) and puts its test NDCG@20 beside the run's. Where the control scores as well, IDW's
change is the extra training, not the weighting.

Fig. 7 (--figure, default on) is drawn from the same cells by the one Fig. 7 of the package
(`figure`, also behind `figures fig7`): <figure_dir>/fig7_search_<dataset>.png and its numbers
beside it (.json).

Flags:
  --config          config file[:arg] (default configs/synthetic.py); --config.a.b=v for every run
  --methods         IDW methods to tune, comma-separated (default mur_idw)
  --seeds           0,1,2 or 0-2 (default 0)
  --momenta         values of idw.momentum (default 0.7,0.8,0.9,0.99)
  --etas            values of idw.eta (default 1e-4,2e-4,3e-4,4e-4)
  --max_iterations  idw.max_iterations of every run (default 32)
  --out             grid folder (default results/<dataset>-idw-search)
  --table           selection table (default results/<dataset>/idw_search.md)
  --max_new_runs    compute at most this many unfinished runs
  --[no]controls    also run each IDW run's m = 1 control (default on)
  --[no]figure      also draw Fig. 7 (default on); --figure_dir: where (default results/figures)
  --debug           the full traceback of a user error instead of one line
A default folder that git tracks (--out, --table's folder, --figure_dir) is written into only
when its flag names it (a one-line refusal otherwise).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from idw_jax import config as config_lib
from idw_jax import metrics
from idw_jax.experiments import cli as exp_cli
from idw_jax.experiments import grid
from idw_jax.experiments import plotting
from idw_jax.experiments import records as records_lib
from idw_jax.experiments import significance
from idw_jax.experiments import specs as specs_lib
from idw_jax.experiments import tables


def primary(results: dict, split: str) -> dict:
  """A split's block of the primary protocol (sampled where the dataset has it)."""
  return results[split][metrics.primary_kind(results[split])]


def wake_phases(results: dict) -> int:
  return sum(1 for p in results["phases"] if p["phase"].startswith("wake"))


def control_sweep(n: int) -> dict:
  """The grid point of the m = 1 control with n wake phases."""
  return {"idw.momentum": [1.0], "idw.eta": [0.0], "idw.max_iterations": [int(n)]}


def summarize(rows: Sequence[dict], metric: str = "NDCG@20", controls: dict | None = None,
              control_ranks: dict | None = None) -> list[dict]:
  """One entry per (method, m, eta): seeds, validation/test means, wake phases, what ended the
  loop, and (with controls: {(method, seed, wake phases): results}) the mean test NDCG@20 of
  the m = 1 controls of its runs. rows: records rows whose sweep holds "momentum" and "eta".
  Where every run has test ranks (row "ranks") and so has its control (control_ranks, keyed as
  controls), "control_ci" is the paired bootstrap over test windows of run - control
  (significance.paired_bootstrap: mean, 2.5% and 97.5% quantiles of test NDCG@20)."""
  groups: dict[tuple, list[tuple]] = {}
  for r in rows:
    if r.get("results"):
      key = (r["method"], float(r["sweep"]["momentum"]), float(r["sweep"]["eta"]))
      groups.setdefault(key, []).append((r["seed"], r["results"], r.get("ranks")))
  out = []
  for (method, m, eta), seeded in sorted(groups.items()):
    runs = [res for _, res, _ in seeded]
    wakes = [wake_phases(res) for res in runs]
    keys = [(method, seed, w) for (seed, _, _), w in zip(seeded, wakes)]
    matched = [(controls or {}).get(k) for k in keys]
    pairs = []
    for (_, res, ranks), k in zip(seeded, keys):
      kind = metrics.primary_kind(res["test"])
      theirs = ((control_ranks or {}).get(k) or {}).get(kind)
      if (ranks or {}).get(kind) is None or theirs is None:
        break
      pairs.append((ranks[kind], theirs))
    ci = (significance.paired_bootstrap([a for a, _ in pairs], [b for _, b in pairs], "NDCG@20")
          if pairs and len(pairs) == len(keys) else None)
    ended = ["eta" if res["idw_trace"] and res["idw_trace"][-1]["converged"] else "cap"
             for res in runs]
    out.append({
        "method": method, "momentum": m, "eta": eta, "seeds": len(runs),
        "valid": float(np.mean([primary(res, "valid")["overall"][metric] for res in runs])),
        "valid_by_seed": {seed: float(primary(res, "valid")["overall"][metric])
                          for seed, res, _ in seeded},
        "test_hr": float(np.mean([primary(res, "test")["overall"]["HR@20"] for res in runs])),
        "test_ndcg": float(np.mean([primary(res, "test")["overall"]["NDCG@20"] for res in runs])),
        "tail_ndcg": float(np.mean([primary(res, "test")["tail"]["NDCG@20"] for res in runs])),
        "control_ndcg": _control_mean(matched, "overall"),
        "control_tail_ndcg": _control_mean(matched, "tail"),
        "wakes": wakes, "ended": ended, "control_ci": ci,
        "calibration": _calibration_gain(runs)})
  return out


def _calibration_gain(runs: list) -> float | None:
  """Mean change of the validation metric across user-tower calibration: the calibration
  phase's best against the last sleep's (the model the wake phases left); None without both."""
  gains = []
  for res in runs:
    rows = res.get("phases", [])
    sleeps = [p for p in rows if p["phase"].startswith("sleep") and p.get("best_valid") is not None]
    cal = [p for p in rows if p["phase"].startswith("calib") and p.get("best_valid") is not None]
    if not sleeps or not cal:
      return None
    gains.append(cal[-1]["best_valid"] - sleeps[-1]["best_valid"])
  return float(np.mean(gains)) if gains else None


def _control_mean(matched: list, split: str) -> float | None:
  """Mean test NDCG@20 on a split over the matched controls; None unless every run has one."""
  if not matched or any(c is None for c in matched):
    return None
  rows = [primary(c, "test").get(split) for c in matched]
  return None if any(r is None for r in rows) else float(np.mean([r["NDCG@20"] for r in rows]))


def common_seeds(entries: Sequence[dict], method: str) -> list[int]:
  """The seeds every (m, eta) cell of `method` ran: the selection compares cells on these."""
  sets = [set(e["valid_by_seed"]) for e in entries if e["method"] == method]
  return sorted(set.intersection(*sets)) if sets else []


def selection_score(e: dict, seeds: Sequence[int]) -> float:
  """A cell's mean validation metric over `seeds` (all its seeds when none is shared), so
  that a cell run at more seeds is not compared on different draws than the others."""
  shared = [e["valid_by_seed"][s] for s in seeds if s in e["valid_by_seed"]]
  return float(np.mean(shared)) if shared else e["valid"]


def selected(entries: Sequence[dict]) -> dict[str, dict]:
  """Per method, the cell with the best validation metric at the seeds all its cells ran."""
  best: dict[str, dict] = {}
  for method in {e["method"] for e in entries}:
    seeds = common_seeds(entries, method)
    best[method] = max((e for e in entries if e["method"] == method),
                       key=lambda e: selection_score(e, seeds))
  return best


def _control_cell(e: dict) -> str:
  if e.get("control_ndcg") is None:
    return "-"
  tail = e.get("control_tail_ndcg")
  return f"{e['control_ndcg']:.2f}" + ("" if tail is None else f" ({tail:.2f})")


def _interval(ci) -> str:
  return "-" if ci is None else f"{ci[0]:+.2f} [{ci[1]:+.2f}, {ci[2]:+.2f}]"


def markdown(entries: Sequence[dict], metric: str, command: str) -> str:
  best = selected(entries)
  lines = [f"# IDW hyper-parameter search (Sec. 4.4): momentum x eta, selected on validation "
           f"{metric}", "", f"Command: `{command}`", "",
           "Validation and test metrics are sampled where the dataset has the sampled protocol, "
           "means over the seeds run, except the validation column, which is at the seeds "
           "every cell of the method ran (the selection's criterion; a cell's mean over more "
           "seeds in brackets); wake phases per run, and what ended each run's loop "
           "(eta: the weight change fell below eta; cap: idw.max_iterations). Control: the "
           "test NDCG@20 of the same loop with m = 1, eta = 0 and as many wake phases (the "
           "weights stay at p: as much extra training, no re-weighting), its tail NDCG@20 in "
           "brackets; - where not run. "
           "IDW - control: the test NDCG@20 difference with its 95% interval, a paired "
           "bootstrap over test windows (significance.py); the difference is real where the "
           "interval excludes 0. Calibration: the change of the validation metric that early "
           "stopping watches (eval.early_stop_metric) across user-tower calibration (its best "
           "against the last sleep's), mean over seeds.", ""]
  for method in sorted({e["method"] for e in entries}, key=config_lib.METHODS.index):
    b, seeds = best[method], common_seeds(entries, method)
    cells = sum(e["method"] == method for e in entries)
    shared = ", ".join(map(str, seeds)) or "none shared: each cell's own"
    heading = (f"selected m = {b['momentum']:g}, eta = {b['eta']:g} (best of {cells} cells "
               f"on validation {metric} at seed(s) {shared})" if cells > 1 else
               f"one cell run, m = {b['momentum']:g}, eta = {b['eta']:g} (nothing selected)")
    lines += [f"## {tables.NAMES.get(method, method)}: {heading}", "",
              f"| m | eta | seeds | valid {metric} | wake phases | ended by | test HR@20 | "
              f"test NDCG@20 | tail NDCG@20 | control test NDCG@20 (tail) | "
              f"IDW - control [95%] | calibration |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in entries:
      if e["method"] != method:
        continue
      mark = "**" if e is b else ""
      score = selection_score(e, seeds)
      valid = f"{mark}{score:.2f}{mark}" + (
          f" ({e['seeds']} seeds: {e['valid']:.2f})" if seeds and e["seeds"] > len(seeds) else "")
      lines.append(f"| {e['momentum']:g} | {e['eta']:g} | {e['seeds']} | "
                   f"{valid} | {', '.join(map(str, e['wakes']))} | "
                   f"{', '.join(e['ended'])} | {e['test_hr']:.2f} | {e['test_ndcg']:.2f} | "
                   f"{e['tail_ndcg']:.2f} | "
                   f"{_control_cell(e)} | "
                   f"{_interval(e.get('control_ci'))} | "
                   f"{'-' if e.get('calibration') is None else format(e['calibration'], '+.2f')} |")
    lines.append("")
  return "\n".join(lines)


def fig7_data(entries: Sequence[dict], reference: dict | None = None) -> dict:
  """The numbers Fig. 7 plots: {method: {"valid" | "test_ndcg": {f"{m:g}": {f"{eta:g}":
  {"ndcg", "wakes" (per seed), "control_ndcg" (test only; None without a control)}}}}}, and
  "reference": {"valid", "test_ndcg"} (e.g. MUR's means) when given."""
  data: dict = {}
  for e in sorted(entries, key=lambda e: (config_lib.METHODS.index(e["method"]), e["momentum"],
                                          e["eta"])):
    for key in ("valid", "test_ndcg"):
      cell = {"ndcg": e[key], "wakes": e["wakes"]}
      if key == "test_ndcg":
        cell["control_ndcg"] = e.get("control_ndcg")
      data.setdefault(e["method"], {}).setdefault(key, {}).setdefault(
          f"{e['momentum']:g}", {})[f"{e['eta']:g}"] = cell
  if reference:
    data["reference"] = dict(reference)
  return data


def figure(entries: Sequence[dict], path: Path, reference: dict | None = None,
           title: str = "Fig. 7 from the IDW search: NDCG@20 against eta and momentum (numbers "
                        "at points: wake phases per seed; open markers: the m = 1 control)"
           ) -> dict:
  """Fig. 7 (the package's one): validation and test NDCG@20 of the cells against eta and
  against m (plotting.fig7). Writes path (.png) and the plotted numbers beside it (.json);
  returns them."""
  data = fig7_data(entries, reference)
  path.parent.mkdir(parents=True, exist_ok=True)
  plotting.fig7(data, path, title)
  path.with_suffix(".json").write_text(json.dumps(data, indent=1))
  return data


def main(argv):
  from absl import flags
  f = flags.FLAGS
  if len(argv) > 1:
    raise ValueError(f"unexpected argument(s) {argv[1:]}; the search takes flags only (--help)")
  file, preset, overrides = exp_cli.experiment_config(f["config"])
  overrides["idw.max_iterations"] = f.max_iterations
  sweep = {"idw.momentum": exp_cli.parse_numbers(f.momenta, "--momenta"),
           "idw.eta": exp_cli.parse_numbers(f.etas, "--etas")}
  methods = exp_cli.parse_methods(f.methods)
  bad = [m for m in methods if m not in config_lib.IDW_METHODS]
  if bad:
    raise ValueError(f"--methods must be IDW methods {config_lib.IDW_METHODS}, not {bad}")
  dataset = f["config"].value.data.name
  out = Path(f.out or f"results/{dataset}-idw-search")
  table = Path(f.table or f"results/{dataset}/idw_search.md")
  exp_cli.refuse_committed_defaults({
      **({"--out": out} if f.out is None else {}),
      **({"--table": table} if f.table is None else {}),
      **({"--figure_dir": f.figure_dir} if f.figure and not f["figure_dir"].present else {})})
  specs = specs_lib.make_specs(file, methods, exp_cli.parse_seeds(f.seeds), sweep, overrides,
                               preset)
  print(f"search: {len(specs)} runs under {out}/runs", flush=True)
  recs = grid.run_grid(specs, out, max_new_runs=f.max_new_runs, write_tables=False,
                       echo=lambda s: print(s, flush=True))
  controls: dict = {}
  control_ranks: dict = {}
  if f.controls:
    fixed = {k: v for k, v in overrides.items() if k != "idw.max_iterations"}
    wanted = sorted({(r.spec.method, r.spec.seed, wake_phases(r.results)) for r in recs
                     if r.results is not None})
    cspecs = [s for method, seed, n in wanted
              for s in specs_lib.make_specs(file, [method], [seed], control_sweep(n), fixed,
                                            preset)]
    print(f"search: {len(cspecs)} m = 1 controls under {out}/runs", flush=True)
    crecs = grid.run_grid(cspecs, out, max_new_runs=f.max_new_runs, write_tables=False,
                          echo=lambda s: print(s, flush=True))
    controls = {(r.spec.method, r.spec.seed, n): r.results
                for (_, _, n), r in zip(wanted, crecs) if r.results is not None}
    control_ranks = {(r.spec.method, r.spec.seed, n): records_lib.run_ranks(out, r.name, r.workdir)
                     for (_, _, n), r in zip(wanted, crecs) if r.results is not None}
    recs = recs + crecs
  rows = records_lib.records_to_rows(recs[:len(specs)])
  for row, r in zip(rows, recs):
    row["ranks"] = records_lib.run_ranks(out, r.name, r.workdir)
  entries = summarize(rows, controls=controls, control_ranks=control_ranks)
  table.parent.mkdir(parents=True, exist_ok=True)
  command = "python -m idw_jax.experiments.search " + " ".join(sys.argv[1:])
  table.write_text(markdown(entries, "NDCG@20", command))
  print(f"search: {table}", flush=True)
  if entries and f.figure:
    fig = Path(f.figure_dir) / f"fig7_search_{dataset}.png"
    figure(entries, fig)
    print(f"search: {fig}", flush=True)
  return 0 if all(r.status not in ("failed", "stale") for r in recs) else 1


def _define_flags():
  from absl import flags
  flags.DEFINE_string("methods", "mur_idw", "IDW methods to tune, comma-separated.")
  flags.DEFINE_string("seeds", "0", "Seeds: '0,1,2' or '0-2'.")
  flags.DEFINE_string("momenta", "0.7,0.8,0.9,0.99", "Values of idw.momentum (Sec. 4.4).")
  flags.DEFINE_string("etas", "1e-4,2e-4,3e-4,4e-4", "Values of idw.eta (Sec. 4.4).")
  flags.DEFINE_integer("max_iterations", 32, "idw.max_iterations: high enough that eta, not the "
                       "cap, ends the loop (the table says which did).")
  flags.DEFINE_string("out", None, "Grid folder (default results/<dataset>-idw-search).")
  flags.DEFINE_string("table", None, "Selection table (default results/<dataset>/idw_search.md).")
  flags.DEFINE_integer("max_new_runs", None, "Compute at most this many unfinished runs.")
  flags.DEFINE_bool("controls", True, "Also run, for every finished IDW run, the m = 1 control "
                    "with as many wake phases (eta 0), and show its test NDCG@20.")
  flags.DEFINE_bool("figure", True, "Also draw Fig. 7 from the search (NDCG@20 against eta "
                    "and m) as <figure_dir>/fig7_search_<dataset>.png.")
  flags.DEFINE_string("figure_dir", "results/figures", "Where the figure goes.")
  exp_cli.define_config_flag()


if __name__ == "__main__":
  from idw_jax import cli
  _define_flags()
  cli.run(main)
