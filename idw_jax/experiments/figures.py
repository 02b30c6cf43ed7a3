"""The paper's figures as PNG, each one command; the runs go through the grid (cached by config).

  python -m idw_jax.experiments.figures fig3 --out=results/figures            # synthetic
  python -m idw_jax.experiments.figures fig6 fig7 --config=configs/ml1m.py --seeds=0,1,2
  python -m idw_jax.experiments.figures all --tiny --out=/tmp/figs           # seconds-sized

Figures (full-size defaults; the measured cost of each is in docs/results.md, beside its command):
  fig1  item embeddings (2-D PCA / t-SNE), SUR vs MUR at cluster exponent 0 and 2
  fig3  tail / head / all HR@20 and mean silhouette vs cluster exponent 0..2 for SUR, MUR,
        MUR-IDW, head and tail split by clusters (the paper's) and by items (1 seed by default:
        --seeds=0-4 for error bars; --controls adds each IDW run's m = 1 control, dashed)
  fig4  item embeddings, IDW weights and silhouette across IDW iterations (one MUR-IDW run
        at exponent 2)
  fig5  NDCG@20 on overall / head / tail items relative to MUR (MUR, Qmargin, Item Norm,
        MUR-IDW; seeds 0,1,2)
  fig6  HR@20 / NDCG@20 against M in {1, 2, 3, 5, 8} (MUR, Item Norm, MUR-IDW; SUR as a
        reference line; 1 seed)
  fig7  MUR-IDW's validation and test NDCG@20 against eta in {1..7}e-4 (at the config's
        momentum) and against momentum in {0.7, 0.8, 0.9, 0.99, 1.0} (at its eta), MUR as
        reference (1 seed; the wake phases of each run are written at its point); the same
        drawing as the IDW search's Fig. 7 (search.figure)
  fig8  SUR-IDW and MUR-IDW with and without user-tower calibration, MUR as reference
        (seeds 0,1)
  fig9  item frequency distribution (normalised frequency vs items sorted by frequency):
        synthetic at exponents 0, 1, 2 and every real dataset whose file is present

Runs live in <runs>/runs/<name> (default --runs=results/<data.name>, the folder the grid
command writes Table 1 into, so the table's runs are reused; with --tiny, <out>/tiny). Fixed
overrides (`--config.a.b=v`) apply to every run of a figure; figures 5-8 use the dataset's
config as it is (the synthetic default is cluster exponent 1: add
--config.data.synthetic.cluster_exponent=2 for the skewed benchmark). Each figure also writes
<out>/<fig>_<dataset>.json with the numbers it plots.

Each figure asks the grid for its runs (computed once, then read from their records) and draws
what their results hold (fig1 and fig4 also read the embeddings the runs saved in their
folders; fig9 reads the data only): the numbers are gathered here, the drawing is
idw_jax.experiments.plotting.

Arguments and flags: the figures to draw (positional: fig1 ... fig9, or all; default all);
  --config             config file[:arg] (default configs/synthetic.py); --config.a.b=v sets a
                       field for every run
  --out                folder of the PNGs and their .json numbers (default results/figures)
  --runs               grid folder of the runs (default results/<data.name>; --tiny: <out>/tiny)
  --seeds, --methods   default per figure
  --values, --values2  swept values (fig1/3/4/9 cluster exponents, fig6 M, fig7 eta; fig7 momenta)
  --datasets           fig9: config files of the real datasets
  --[no]controls       fig3: also each IDW run's m = 1 control
  --projection         pca or tsne (fig1, fig4)
  --[no]tiny           seconds-sized runs (a smoke test)
  --jobs, --compilation_cache   as for the grid
  --debug              the full traceback of a user error instead of one line
A default folder that git tracks (--out, --runs) is written into only when its flag names it
(a one-line refusal otherwise): `figures fig5 --out=results/figures --runs=results/synthetic`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from idw_jax import compilation_cache as compilation_cache_lib
from idw_jax import config as config_lib
from idw_jax import methods as methods_lib
from idw_jax import metrics
from idw_jax.experiments import cache
from idw_jax.experiments import cli as exp_cli
from idw_jax.experiments import grid
from idw_jax.experiments import plotting
from idw_jax.experiments import records
from idw_jax.experiments import search
from idw_jax.experiments import specs as specs_lib
from idw_jax.experiments import tables
from idw_jax.experiments.plotting import Embedding, Panel, Series

# --tiny runs config.TINY_SWEEP (real data: and TINY_REAL): a grid of seconds (the shapes of the
# figures, not their numbers).
EXPONENTS = (0.0, 0.5, 1.0, 1.5, 2.0)
NUM_INTERESTS = (1, 2, 3, 5, 8)
ETAS = tuple(k * 1e-4 for k in range(1, 8))
MOMENTA = (0.7, 0.8, 0.9, 0.99, 1.0)
REAL_CONFIGS = ("configs/ml1m.py", "configs/kindle.py", "configs/clothing.py",
                "configs/clothing_standin.py")
EXPONENT = "data.synthetic.cluster_exponent"


@dataclasses.dataclass
class Context:
  """What every figure needs: the dataset config, fixed overrides, where runs and PNGs go."""

  config_file: str = "configs/synthetic.py"
  preset: str = "paper"
  fixed: dict = dataclasses.field(default_factory=dict)
  seeds: Sequence[int] | None = None     # None: the figure's default
  methods: Sequence[str] | None = None   # None: the figure's default
  values: Sequence[Any] | None = None    # the swept values (fig3 exponents, fig6 M, fig7 etas)
  values2: Sequence[Any] | None = None   # fig7 momenta
  datasets: Sequence[str] | None = None  # fig9 config files
  projection: str = "pca"
  tiny: bool = False
  out: Path = Path("results/figures")
  runs: Path | None = None
  jobs: int = 1
  compilation_cache: str = compilation_cache_lib.DEFAULT
  controls: bool = False                 # fig3: also the m = 1 control of every IDW run
  echo: Callable[[str], Any] = print

  def __post_init__(self):
    self.out = Path(self.out)
    if self.tiny:   # on real data also its first users (config.TINY_REAL)
      real = specs_lib.load_config(self.config_file).data.source != "synthetic"
      self.fixed = {**config_lib.TINY_SWEEP, **(config_lib.TINY_REAL if real else {}),
                    **self.fixed}

  def config(self):
    """The dataset config with the fixed overrides (not finalized)."""
    c = specs_lib.load_config(self.config_file)
    for key, value in self.fixed.items():
      config_lib.set_field(c, key, value)
    return c

  @property
  def dataset(self) -> str:
    return self.config().data.name

  @property
  def is_synthetic(self) -> bool:
    return self.config().data.source == "synthetic"

  def runs_dir(self) -> Path:
    if self.runs is not None:
      return Path(self.runs)
    return self.out / "tiny" if self.tiny else Path("results") / self.dataset

  def pick(self, default, tiny=None):
    return default if not self.tiny or tiny is None else tiny

  def run(self, methods, sweep=None, seeds=(0,), exact_seeds=False) -> list[cache.RunRecord]:
    """Runs (or reads) methods x seeds x sweep through the grid; tables are not rewritten.
    seeds is the figure's default (--seeds replaces it) unless exact_seeds."""
    seeds = list(seeds if exact_seeds else self.seeds or seeds)
    specs = specs_lib.make_specs(self.config_file, methods, seeds, sweep or {}, self.fixed,
                                 self.preset)
    self.echo(f"{len(specs)} runs under {self.runs_dir()}/runs")
    return grid.run_grid(specs, self.runs_dir(), jobs=self.jobs, echo=self.echo,
                         compilation_cache=self.compilation_cache, write_tables=False)

  def path(self, fig: str, suffix: str = "png") -> Path:
    """<out>/<fig>_<dataset>.<suffix>; with --tiny under <out>/tiny, never beside the
    full-size figures it would otherwise replace."""
    folder = self.out / "tiny" if self.tiny else self.out
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{fig}_{self.dataset}.{suffix}"

  def seeds_note(self, seeds) -> str:
    n = len(self.seeds or seeds)
    return f"{n} seed{'s' if n != 1 else ''}" + (", --tiny" if self.tiny else "")

  def done(self, fig: str, png: Path | None, data: dict) -> list[Path]:
    """The figure's PNG and, beside it, the numbers it plots (<fig>_<dataset>.json)."""
    self.path(fig, "json").write_text(json.dumps(data, indent=1, default=float))
    return [png] if png is not None else []


def _require_synthetic(ctx: Context, fig: str):
  if not ctx.is_synthetic:
    raise ValueError(f"{fig} needs the synthetic benchmark (ground-truth clusters, cluster "
                     f"exponent); {ctx.config_file} is {ctx.dataset}")


# ------------------------------------------------------------------- what the records hold
def _test_block(results: dict) -> tuple[str, dict]:
  kind = metrics.primary_kind(results["test"])
  return kind, results["test"][kind]


def _metric(results: dict, metric: str, split: str = "overall") -> float | None:
  """A test metric; None where the run has no such split (runs made before the cluster split
  existed)."""
  block = _test_block(results)[1]
  return float(block[split][metric]) if split in block else None


def _by(recs, key: Callable) -> dict:
  """{key(record): [results, ...]} over finished records, in first-seen key order."""
  out: dict = {}
  for r in recs:
    if r.results is not None:
      out.setdefault(key(r), []).append(r.results)
  return out


def _protocol_label(recs) -> str:
  for r in recs:
    if r.results is not None:
      return tables.PROTOCOL_TITLES[_test_block(r.results)[0]]
  return ""


def _stat(results: Sequence[dict], metric: str, split: str | None = "overall"):
  """(mean, std) over runs (tables.mean_std) of a test metric on a split, or of the mean
  silhouette (split None); None where no run has a value."""
  vals = [r.get("silhouette") if split is None else _metric(r, metric, split) for r in results]
  vals = [v for v in vals if v is not None]
  return tables.mean_std(vals) if vals else None


def _controls(ctx: Context, recs, sweep_key: str) -> list[cache.RunRecord]:
  """The m = 1 control of every finished IDW run in recs: the same loop, as many wake phases,
  the weights held at p (search.control_sweep), so that a figure can tell the re-weighting
  from the extra training. Run (or read) through the grid with the same fixed overrides."""
  groups: dict[tuple, list[int]] = {}
  for r in recs:
    if r.results is not None and r.spec.method in config_lib.IDW_BASE:
      key = (r.spec.method, r.spec.sweep[sweep_key], search.wake_phases(r.results))
      groups.setdefault(key, []).append(r.spec.seed)
  out = []
  for (method, value, n), seeds in groups.items():
    out += ctx.run([method], {sweep_key: [value], **search.control_sweep(n)}, seeds,
                   exact_seeds=True)
  return out


def project(emb: np.ndarray, kind: str = "pca", seed: int = 0) -> np.ndarray:
  """[N, d] -> [N, 2] by PCA (default) or t-SNE."""
  emb = np.asarray(emb, np.float64)
  if emb.shape[1] == 1:
    return np.concatenate([emb, np.zeros_like(emb)], axis=1)
  if emb.shape[1] == 2:
    return emb
  if kind == "tsne":
    from sklearn.manifold import TSNE
    perplexity = max(2.0, min(30.0, (emb.shape[0] - 1) / 3))
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(emb)
  from sklearn.decomposition import PCA
  return PCA(2, random_state=seed).fit_transform(emb)


def _embedding(path: Path, kind: str, seed: int) -> tuple[Embedding, dict]:
  """A saved embeddings file (embeddings/<phase>.npz of a run folder) in 2-D, and its arrays."""
  with np.load(path) as f:
    e = {k: f[k] for k in f.files}
  return Embedding(project(e["item_emb"], kind, seed), e["clusters"], e["train_counts"]), e


# ------------------------------------------------------------------------------------- fig1
def fig1(ctx: Context) -> list[Path]:
  """SUR vs MUR item embeddings at low (exponent 0) and high (exponent 2) skew."""
  _require_synthetic(ctx, "fig1")
  exps = list(ctx.values or (0.0, 2.0))
  methods = list(ctx.methods or ("sur", "mur"))
  seeds = [(ctx.seeds or (0,))[0]]
  recs = ctx.run(methods, {EXPONENT: exps}, seeds, exact_seeds=True)
  cells = [[None] * len(methods) for _ in exps]
  data = {}
  for r in recs:
    i, j = exps.index(r.spec.sweep[EXPONENT]), methods.index(r.spec.method)
    npz = r.workdir / "embeddings" / "final.npz"
    name = plotting.label(r.spec.method)
    if r.results is None or not npz.exists():
      cells[i][j] = (f"{name}: {r.status}", None)
      continue
    sil = r.results.get("silhouette")
    cells[i][j] = (f"{name}, exponent {exps[i]:g}: MS {sil:.2f}",
                   _embedding(npz, ctx.projection, r.spec.seed)[0])
    data[f"{r.spec.method}@{exps[i]:g}"] = {"silhouette": sil, "run": r.name}
  rows = [f"{'low' if e == min(exps) else 'high'} skew (exponent {e:g})" for e in exps]
  png = plotting.fig1(cells, rows, ctx.path("fig1"),
                      f"Fig. 1: item embeddings ({ctx.projection.upper()}), colour = ground-truth "
                      f"cluster, size = frequency ({ctx.seeds_note(seeds)})")
  return ctx.done("fig1", png, data)


# ------------------------------------------------------------------------------------- fig3
FIG3_PANELS = (("tail_clusters", "HR@20", "(d) tail clusters"),
               ("head_clusters", "HR@20", "(e) head clusters"),
               ("tail", "HR@20", "tail items (top-20% split)"),
               ("head", "HR@20", "head items (top-20% split)"),
               ("overall", "HR@20", "(f) all items"), (None, "silhouette", "(g) mean silhouette"))


def fig3(ctx: Context) -> list[Path]:
  """Tail / head / all HR@20 and mean silhouette against the cluster exponent. Head and tail
  twice: by interest clusters (the paper's Fig. 3d/e: the most frequent 20% of clusters, i.e.
  one of five, against the rest) and by items (the 20% most frequent items)."""
  _require_synthetic(ctx, "fig3")
  exps = list(ctx.values or ctx.pick(EXPONENTS, (0.0, 2.0)))
  methods = list(ctx.methods or ("sur", "mur", "mur_idw"))
  recs = ctx.run(methods, {EXPONENT: exps}, seeds=(0,))
  groups = _by(recs, lambda r: (r.spec.method, r.spec.sweep[EXPONENT]))
  lines = [(m, plotting.label(m), {"ls": "-", "color": plotting.color(m)}) for m in methods]
  if ctx.controls:
    groups.update(_by(_controls(ctx, recs, EXPONENT),
                      lambda r: (r.spec.method + "_control", r.spec.sweep[EXPONENT])))
    lines += [(m + "_control", plotting.label(m) + ", m = 1 control", {"ls": "--",
                                                                        "color": "0.45"})
              for m in methods if m in config_lib.IDW_BASE]
  data, panels = {}, []
  for split, metric, title in FIG3_PANELS:
    series = []
    for method, name, style in lines:
      xs, ys, es = [], [], []
      for x in exps:
        res = groups.get((method, x), [])
        stat = _stat(res, metric, split)
        if stat is not None:
          xs.append(x), ys.append(stat[0]), es.append(stat[1])
          data.setdefault(method, {}).setdefault(f"{split or 'all'}/{metric}", {})[x] = list(stat)
      series.append(Series(name, xs, ys, es, style=style))
    panels.append(Panel(series, "cluster exponent (skew)",
                        metric + ("" if split is None else " (%)"), title))
  panels[0].legend = True
  png = plotting.panels([panels], ctx.path("fig3"),
                        f"Fig. 3: synthetic benchmark, {_protocol_label(recs)}, mean ± std over "
                        f"{ctx.seeds_note((0,))}", figsize=(22, 3.6))
  return ctx.done("fig3", png, data)


# ------------------------------------------------------------------------------------- fig4
def fig4(ctx: Context) -> list[Path]:
  """Embeddings, IDW weights and silhouette across the IDW iterations of one MUR-IDW run."""
  _require_synthetic(ctx, "fig4")
  exp = float((ctx.values or (2.0,))[0])
  seed = (ctx.seeds or (0,))[0]
  method = (ctx.methods or ("mur_idw",))[0]
  rec = ctx.run([method], {EXPONENT: [exp]}, [seed], exact_seeds=True)[0]
  if rec.results is None:
    raise RuntimeError(f"fig4: run {rec.name} {rec.status}: {rec.error}")
  folder = rec.workdir / "embeddings"
  sleeps = sorted(folder.glob("sleep*.npz"), key=lambda p: int(re.sub(r"\D", "", p.stem)))
  trace = {t["iteration"]: t for t in rec.results["idw_trace"]}
  panels = [(int(re.sub(r"\D", "", p.stem)), p) for p in sleeps]
  if len(panels) > 8:                      # at most 8 columns: first, last and evenly between
    keep = np.unique(np.linspace(0, len(panels) - 1, 8).round().astype(int))
    panels = [panels[k] for k in keep]
  final = folder / "final.npz"
  columns = []
  for t, path in panels + ([("final", final)] if final.exists() else []):
    emb, arrays = _embedding(path, ctx.projection, seed)
    sil = trace[t]["silhouette"] if t != "final" else rec.results["silhouette"]
    columns.append((("after calibration" if t == "final" else f"iteration {t}") + f"\nMS {sil:.2f}",
                    "item weight w" + ("" if t == "final" else f"({t})"), emb,
                    arrays["item_weight"] / arrays["item_weight"].sum()))
  its = sorted(trace)
  png = plotting.fig4(
      columns, its, [trace[t]["silhouette"] for t in its],
      [trace[t]["weight_change"] for t in its], rec.results["config"]["idw"]["eta"],
      ctx.path("fig4"),
      f"Fig. 4: {plotting.label(method)} on the synthetic benchmark (exponent {exp:g}, "
      f"seed {seed}{', --tiny' if ctx.tiny else ''}): embeddings "
      f"({ctx.projection.upper()}) by cluster (top) and by IDW weight (middle)")
  return ctx.done("fig4", png, {"run": rec.name, "trace": rec.results["idw_trace"],
                                "final_silhouette": rec.results["silhouette"]})


# ------------------------------------------------------------------------------------- fig5
def fig5(ctx: Context) -> list[Path]:
  """NDCG@20 on overall / head / tail items relative to MUR (Markdown and bars)."""
  methods = list(ctx.methods or ctx.pick(("mur", "qmargin", "item_norm", "mur_idw"),
                                         ("mur", "mur_idw")))
  if "mur" not in methods:
    methods = ["mur"] + methods
  seeds = ctx.pick((0, 1, 2), (0,))
  recs = ctx.run(methods, seeds=seeds)
  groups = tables.fig5_entries(tables.aggregate(records.records_to_rows(recs)))
  ctx.path("fig5", "md").write_text(tables.fig5_markdown(groups, ctx.dataset))
  png = None
  if groups:
    png = plotting.fig5(groups, ctx.path("fig5"),
                        tables.fig5_title(groups, f"{ctx.dataset} ({ctx.seeds_note(seeds)})"),
                        methods=methods)
  return ctx.done("fig5", png, {"groups": groups}) + [ctx.path("fig5", "md")]


# ------------------------------------------------------------------------------------- fig6
def fig6(ctx: Context) -> list[Path]:
  """HR@20 / NDCG@20 against the number of user representations M."""
  ms = [int(m) for m in (ctx.values or ctx.pick(NUM_INTERESTS, (1, 5)))]
  methods = list(ctx.methods or ctx.pick(("sur", "mur", "item_norm", "mur_idw"),
                                         ("mur", "mur_idw")))
  single = [m for m in methods if methods_lib.get(m).num_interests == 1]
  multi = [m for m in methods if methods_lib.get(m).num_interests != 1]
  recs = []
  if multi:
    recs += ctx.run(multi, {"model.num_interests": ms})
  if single:
    recs += ctx.run(single)
  groups = _by(recs, lambda r: (r.spec.method, r.results["config"]["model"]["num_interests"]))
  data, panels = {}, []
  for metric in ("HR@20", "NDCG@20"):
    p = Panel([], "number of user representations M", f"{metric} (%)", xticks=ms)
    for method in methods:
      if method in single:
        stat = _stat(groups.get((method, 1), []), metric)
        if stat is not None:
          p.hlines.append((stat[0], f"{plotting.label(method)} (M=1)",
                           {"color": plotting.color(method)}))
          data.setdefault(method, {})[f"{metric}@1"] = stat[0]
        continue
      xs, ys, es = [], [], []
      for m_ in ms:
        stat = _stat(groups.get((method, m_), []), metric)
        if stat is not None:
          xs.append(m_), ys.append(stat[0]), es.append(stat[1])
          data.setdefault(method, {})[f"{metric}@{m_}"] = list(stat)
      p.series.append(Series(plotting.label(method), xs, ys, es,
                             style={"color": plotting.color(method)}))
    panels.append(p)
  panels[0].legend = True
  png = plotting.panels([panels], ctx.path("fig6"),
                        f"Fig. 6: effect of M on {ctx.dataset}, {_protocol_label(recs)} "
                        f"({ctx.seeds_note((0,))})", figsize=(10, 3.8))
  return ctx.done("fig6", png, data)


# ------------------------------------------------------------------------------------- fig7
def fig7(ctx: Context) -> list[Path]:
  """MUR-IDW's NDCG@20 against eta (at the config's momentum) and against momentum (at its
  eta), MUR as reference: the cells of the IDW search (search.summarize) drawn by its figure."""
  etas = [float(x) for x in (ctx.values or ctx.pick(ETAS, (4e-4,)))]
  momenta = [float(x) for x in (ctx.values2 or ctx.pick(MOMENTA, (0.9, 1.0)))]
  method = (ctx.methods or ("mur_idw",))[0]
  recs = ctx.run([method], {"idw.eta": etas}) + ctx.run([method], {"idw.momentum": momenta})
  ref = [r.results for r in ctx.run(["mur"]) if r.results]
  rows, seen = [], set()
  for r in recs:                  # each run once, at the (m, eta) its config holds
    if r.results is None or r.name in seen:
      continue
    seen.add(r.name)
    idw = r.results["config"]["idw"]
    rows.append({"method": r.spec.method, "seed": r.spec.seed, "results": r.results,
                 "sweep": {"momentum": idw["momentum"], "eta": idw["eta"]}})
  reference = None
  if ref:
    reference = {"method": "mur", "test_ndcg": _stat(ref, "NDCG@20")[0],
                 "valid": float(np.mean([search.primary(r, "valid")["overall"]["NDCG@20"]
                                         for r in ref]))}
  path = ctx.path("fig7")
  search.figure(search.summarize(rows), path, reference,
                f"Fig. 7: IDW hyperparameters on {ctx.dataset}, {_protocol_label(recs)} "
                f"({ctx.seeds_note((0,))}); numbers at points: wake phases per seed")
  return [path]


# ------------------------------------------------------------------------------------- fig8
def fig8(ctx: Context) -> list[Path]:
  """IDW with and without user-tower calibration (MUR as a reference line)."""
  methods = list(ctx.methods or ctx.pick(("sur_idw", "mur_idw"), ("mur_idw",)))
  seeds = ctx.pick((0, 1), (0,))
  recs = ctx.run(methods, {"idw.calibrate": [True, False]}, seeds=seeds)
  ref = [r.results for r in ctx.run(["mur"], seeds=seeds) if r.results]
  groups = _by(recs, lambda r: (r.spec.method, r.spec.sweep["idw.calibrate"]))
  metric_names = ("HR@20", "NDCG@20")
  data, bars = {}, {}
  for calib, name in ((True, "IDW"), (False, "IDW w/o user calib")):
    means, errs = [], []
    for metric in metric_names:
      means.append([]), errs.append([])
      for method in methods:
        mean, err = _stat(groups.get((method, calib), []), metric) or (math.nan, 0.0)
        means[-1].append(mean), errs[-1].append(err)
        data.setdefault(method, {}).setdefault(name, {})[metric] = [mean, err]
    bars[name] = (means, errs)
  reference = {m: _stat(ref, m)[0] for m in metric_names} if ref else None
  png = plotting.fig8([plotting.label(m) for m in methods], bars, ctx.path("fig8"),
                      f"Fig. 8: user-tower calibration on {ctx.dataset}, {_protocol_label(recs)} "
                      f"({ctx.seeds_note(seeds)})", metric_names, reference)
  return ctx.done("fig8", png, data)


# ------------------------------------------------------------------------------------- fig9
def item_frequencies(data_cfg) -> np.ndarray:
  """Interactions per item (all events of the raw sequences), sorted descending."""
  from idw_jax.data import pipeline
  seqs = pipeline.load_sequences(data_cfg, None)
  counts = np.bincount(seqs.items, minlength=seqs.num_items + 1)[1:]
  return np.sort(counts)[::-1]


def fig9(ctx: Context) -> list[Path]:
  """Normalised item frequency against items sorted by frequency, per dataset (no training)."""
  curves = []                                           # (panel title, [(label, counts)])
  syn = ctx.config() if ctx.is_synthetic else specs_lib.load_config("configs/synthetic.py")
  exps = list(ctx.values or (0.0, 1.0, 2.0))
  syn_curves = []
  for e in exps:
    syn.data.synthetic.cluster_exponent = float(e)
    syn_curves.append((f"cluster exponent {e:g}", item_frequencies(syn.data)))
  curves.append((f"synthetic ({syn.data.synthetic.num_users:,} users)", syn_curves))
  if ctx.datasets is not None:
    files = list(ctx.datasets)
  elif ctx.tiny:
    files = []
  else:
    resolve = specs_lib.resolve_config_file
    files = [f for f in REAL_CONFIGS if resolve(f).exists()]
    if not ctx.is_synthetic:
      files = [ctx.config_file] + [f for f in files if resolve(f) != resolve(ctx.config_file)]
  from idw_jax.data import pipeline
  for f in files:
    c = specs_lib.load_config(f)
    if c.data.source != "synthetic" and not pipeline.resolve_path(c.data).exists():
      ctx.echo(f"fig9: skipping {c.data.name} ({pipeline.resolve_path(c.data)} not found)")
      continue
    curves.append((c.data.name, [(c.data.name, item_frequencies(c.data))]))
  data = {}
  for title, series in curves:
    for name, counts in series:
      top = max(int(math.ceil(0.2 * counts.size)), 1)
      data[f"{title}/{name}"] = {"items": int(counts.size), "events": int(counts.sum()),
                                 "top20pct_share": float(counts[:top].sum() / counts.sum())}
  freqs = [(title, [(name, counts / max(counts.sum(), 1)) for name, counts in series])
           for title, series in curves]
  png = plotting.fig9(freqs, ctx.path("fig9"),
                      "Fig. 9: item distribution (share of interactions per item)")
  return ctx.done("fig9", png, data)


FIGURES = {"fig1": fig1, "fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6, "fig7": fig7,
           "fig8": fig8, "fig9": fig9}


# --------------------------------------------------------------------------------------- CLI
def _numbers(text, flag: str):
  """The swept values of --values / --values2 (numbers, as written), None when not given."""
  return exp_cli.parse_numbers(text, flag, as_written=True) if text else None


def main(argv):
  from absl import flags
  f = flags.FLAGS
  exp_cli.quiet_absl_logging()
  names = argv[1:] or ["all"]
  names = list(FIGURES) if names == ["all"] else names
  unknown = [n for n in names if n not in FIGURES]
  if unknown:
    raise ValueError(f"unknown figure(s) {unknown}; choose from {list(FIGURES)} or 'all'")
  file, preset, overrides = exp_cli.experiment_config(f["config"])
  for key in ("method", "seed"):
    overrides.pop(key, None)
  ctx = Context(config_file=file, preset=preset, fixed=overrides,
                seeds=exp_cli.parse_seeds(f.seeds) if f.seeds else None,
                methods=exp_cli.parse_methods(f.methods) if f.methods else None,
                values=_numbers(f.values, "--values"), values2=_numbers(f.values2, "--values2"),
                datasets=f.datasets.split(",") if f.datasets else None,
                projection=f.projection, tiny=f.tiny, out=Path(f.out),
                runs=Path(f.runs) if f.runs else None, jobs=f.jobs, controls=f.controls,
                compilation_cache=f.compilation_cache, echo=lambda s: print(s, flush=True))
  exp_cli.refuse_committed_defaults({
      **({"--out": ctx.out} if not f["out"].present else {}),
      **({"--runs": ctx.runs_dir()} if f.runs is None and not f.tiny and names != ["fig9"]
         else {})})                                  # fig9 reads the data only
  for name in names:
    for path in FIGURES[name](ctx):
      print(f"{name}: {path}", flush=True)
  return 0


def _define_flags():
  from absl import flags
  flags.DEFINE_string("out", "results/figures", "Folder for the PNGs (and their .json numbers).")
  flags.DEFINE_string("runs", None, "Grid folder of the runs (default results/<data.name>; "
                      "with --tiny <out>/tiny).")
  flags.DEFINE_string("seeds", None, "Seeds ('0,1,2'); default per figure.")
  flags.DEFINE_string("methods", None, "Methods; default per figure.")
  flags.DEFINE_string("values", None, "Swept values: fig1/3/4/9 cluster exponents, fig6 M, "
                      "fig7 eta; default per figure.")
  flags.DEFINE_string("values2", None, "fig7 momenta; default 0.7,0.8,0.9,0.99,1.0.")
  flags.DEFINE_string("datasets", None, "fig9: config files of real datasets (default: every "
                      "one whose data file is present).")
  flags.DEFINE_bool("controls", False, "fig3: also run and draw (dashed) the m = 1 control of "
                    "every IDW run: the same loop for as many wake phases with the weights held "
                    "at p, i.e. the extra training without the re-weighting.")
  flags.DEFINE_enum("projection", "pca", ["pca", "tsne"], "2-D projection for fig1/fig4.")
  flags.DEFINE_bool("tiny", False, "Seconds-sized runs (tests): " + ", ".join(
      f"{k}={v}" for k, v in config_lib.TINY_SWEEP.items()) + ", fewer sweep values.")
  exp_cli.define_execution_flags()
  exp_cli.define_config_flag()


if __name__ == "__main__":
  from idw_jax import cli
  _define_flags()
  cli.run(main)
