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
  fig7  MUR-IDW against eta in {1..7}e-4 and momentum in {0.7, 0.8, 0.9, 0.99, 1.0} (1 seed;
        the number of wake phases is written at each point)
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
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import textwrap
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from idw_jax import compilation_cache as compilation_cache_lib
from idw_jax import config as config_lib
from idw_jax import metrics
from idw_jax import methods as methods_lib
from idw_jax.experiments import grid
from idw_jax.experiments import records
from idw_jax.experiments import tables

# --tiny runs config.TINY_SWEEP: a grid of seconds (the shapes of the figures, not their numbers).
EXPONENTS = (0.0, 0.5, 1.0, 1.5, 2.0)
NUM_INTERESTS = (1, 2, 3, 5, 8)
ETAS = tuple(k * 1e-4 for k in range(1, 8))
MOMENTA = (0.7, 0.8, 0.9, 0.99, 1.0)
REAL_CONFIGS = ("configs/ml1m.py", "configs/kindle.py", "configs/clothing.py",
                "configs/clothing_standin.py")
COLORS = tables.COLORS


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


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
    if self.tiny:
      self.fixed = {**config_lib.TINY_SWEEP, **self.fixed}

  def config(self):
    """The dataset config with the fixed overrides (not finalized)."""
    c = grid.load_config(self.config_file)
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

  def run(self, methods, sweep=None, seeds=(0,), exact_seeds=False) -> list[grid.RunRecord]:
    """Runs (or reads) methods x seeds x sweep through the grid; tables are not rewritten.
    seeds is the figure's default (--seeds replaces it) unless exact_seeds."""
    seeds = list(seeds if exact_seeds else self.seeds or seeds)
    specs = grid.make_specs(self.config_file, methods, seeds, sweep or {}, self.fixed,
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


def _require_synthetic(ctx: Context, fig: str):
  if not ctx.is_synthetic:
    raise ValueError(f"{fig} needs the synthetic benchmark (ground-truth clusters, cluster "
                     f"exponent); {ctx.config_file} is {ctx.dataset}")


def _test_block(results: dict) -> tuple[str, dict]:
  kind = metrics.primary_kind(results["test"])
  return kind, results["test"][kind]


def _metric(results: dict, metric: str, split: str = "overall") -> float | None:
  """A test metric; None where the run has no such split (runs made before the cluster split
  existed)."""
  block = _test_block(results)[1]
  return float(block[split][metric]) if split in block else None


def _controls(ctx: Context, recs, sweep_key: str) -> list[grid.RunRecord]:
  """The m = 1 control of every finished IDW run in recs: the same loop, as many wake phases,
  the weights held at p (search.control_sweep), so that a figure can tell the re-weighting
  from the extra training. Run (or read) through the grid with the same fixed overrides."""
  from idw_jax.experiments import search
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


def _by(records, key: Callable) -> dict:
  """{key(record): [results, ...]} over finished records, in first-seen key order."""
  out: dict = {}
  for r in records:
    if r.results is not None:
      out.setdefault(key(r), []).append(r.results)
  return out


def _protocol_label(records) -> str:
  for r in records:
    if r.results is not None:
      return tables.PROTOCOL_TITLES[_test_block(r.results)[0]]
  return ""


def suptitle(fig, text: str):
  """A figure title wrapped to the figure's width."""
  fig.suptitle(textwrap.fill(text, width=int(fig.get_figwidth() * 15)), fontsize=9)


def _write_json(path: Path, data: dict):
  path.write_text(json.dumps(data, indent=1, default=float))


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


def _scatter(ax, xy, clusters, counts, color_by=None, cmap="viridis"):
  """Items as points coloured by cluster (or by `color_by`), area ~ training frequency."""
  size = 8 + 120 * np.sqrt(counts / max(counts.max(), 1))
  if color_by is None:
    colors = np.asarray(clusters) % 10
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=colors, cmap="tab10", vmin=0, vmax=9, s=size,
                    edgecolors="k", linewidths=0.3)
  else:
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=color_by, cmap=cmap, s=size, edgecolors="k",
                    linewidths=0.3)
  ax.set_xticks([])
  ax.set_yticks([])
  return sc


def _cluster_legend(fig, clusters):
  plt = _plt()
  cmap = plt.get_cmap("tab10")
  handles = [plt.Line2D([], [], marker="o", ls="", color=cmap(int(c) % 10), label=f"cluster {c}")
             for c in sorted(set(int(c) for c in clusters))]
  fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)


def _load_npz(path: Path) -> dict:
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def _finish(ctx, fig, name: str, data, rect=(0, 0, 1, 1), dpi: int = 120) -> list[Path]:
  """Saves the figure as <out>/<name>_<dataset>.png and the plotted numbers beside it."""
  plt = _plt()
  fig.tight_layout(rect=rect)
  path = ctx.path(name)
  fig.savefig(path, dpi=dpi)
  plt.close(fig)
  _write_json(ctx.path(name, "json"), data)
  return [path]


# ------------------------------------------------------------------------------------- fig1
def fig1(ctx: Context) -> list[Path]:
  """SUR vs MUR item embeddings at low (exponent 0) and high (exponent 2) skew."""
  _require_synthetic(ctx, "fig1")
  exps = list(ctx.values or (0.0, 2.0))
  methods = list(ctx.methods or ("sur", "mur"))
  seeds = [(ctx.seeds or (0,))[0]]
  recs = grid.run_grid(grid.make_specs(ctx.config_file, methods, seeds,
                                       {"data.synthetic.cluster_exponent": exps}, ctx.fixed,
                                       ctx.preset), ctx.runs_dir(), jobs=ctx.jobs, echo=ctx.echo,
                       compilation_cache=ctx.compilation_cache, write_tables=False)
  plt = _plt()
  fig, axes = plt.subplots(len(exps), len(methods), figsize=(3.4 * len(methods),
                                                              3.2 * len(exps) + 0.5),
                           squeeze=False)
  data, clusters = {}, None
  for r in recs:
    i = exps.index(r.spec.sweep["data.synthetic.cluster_exponent"])
    j = methods.index(r.spec.method)
    ax = axes[i][j]
    npz = r.workdir / "embeddings" / "final.npz"
    if r.results is None or not npz.exists():
      ax.set_title(f"{tables.NAMES[r.spec.method]}: {r.status}", fontsize=8)
      continue
    e = _load_npz(npz)
    clusters = e["clusters"]
    _scatter(ax, project(e["item_emb"], ctx.projection, r.spec.seed), clusters,
             e["train_counts"])
    sil = r.results.get("silhouette")
    ax.set_title(f"{tables.NAMES[r.spec.method]}, exponent {exps[i]:g}: MS {sil:.2f}", fontsize=9)
    data[f"{r.spec.method}@{exps[i]:g}"] = {"silhouette": sil, "run": r.name}
  for i, e in enumerate(exps):
    axes[i][0].set_ylabel(f"{'low' if e == min(exps) else 'high'} skew (exponent {e:g})")
  if clusters is not None:
    _cluster_legend(fig, clusters)
  suptitle(fig, f"Fig. 1: item embeddings ({ctx.projection.upper()}), colour = ground-truth "
           f"cluster, size = frequency ({ctx.seeds_note(seeds)})")
  return _finish(ctx, fig, "fig1", data, rect=(0, 0.05, 1, 0.95))


# ------------------------------------------------------------------------------------- fig3
def fig3(ctx: Context) -> list[Path]:
  """Tail / head / all HR@20 and mean silhouette against the cluster exponent. Head and tail
  twice: by interest clusters (the paper's Fig. 3d/e: the most frequent 20% of clusters, i.e.
  one of five, against the rest) and by items (the 20% most frequent items)."""
  _require_synthetic(ctx, "fig3")
  exps = list(ctx.values or ctx.pick(EXPONENTS, (0.0, 2.0)))
  methods = list(ctx.methods or ("sur", "mur", "mur_idw"))
  key = "data.synthetic.cluster_exponent"
  recs = ctx.run(methods, {key: exps}, seeds=(0,))
  groups = _by(recs, lambda r: (r.spec.method, r.spec.sweep[key]))
  series = [(m, tables.NAMES[m], "-") for m in methods]
  if ctx.controls:
    groups.update(_by(_controls(ctx, recs, key),
                      lambda r: (r.spec.method + "_control", r.spec.sweep[key])))
    series += [(m + "_control", tables.NAMES[m] + ", m = 1 control", "--")
               for m in methods if m in config_lib.IDW_BASE]
  panels = [("tail_clusters", "HR@20", "(d) tail clusters"),
            ("head_clusters", "HR@20", "(e) head clusters"),
            ("tail", "HR@20", "tail items (top-20% split)"),
            ("head", "HR@20", "head items (top-20% split)"),
            ("overall", "HR@20", "(f) all items"), (None, "silhouette", "(g) mean silhouette")]
  plt = _plt()
  fig, axes = plt.subplots(1, 6, figsize=(22, 3.6))
  data = {}
  for ax, (split, metric, title) in zip(axes, panels):
    for method, label, style in series:
      xs, ys, es = [], [], []
      for x in exps:
        res = groups.get((method, x), [])
        vals = [r["silhouette"] if split is None else _metric(r, metric, split) for r in res]
        vals = [v for v in vals if v is not None]
        if vals:
          m, s = tables.mean_std(vals)
          xs.append(x), ys.append(m), es.append(s)
          data.setdefault(method, {}).setdefault(f"{split or 'all'}/{metric}", {})[x] = [m, s]
      ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label, ls=style,
                  color="0.45" if method.endswith("_control") else COLORS.get(method))
    ax.set_xlabel("cluster exponent (skew)")
    ax.set_ylabel(metric + ("" if split is None else " (%)"))
    ax.set_title(title, fontsize=9)
  axes[0].legend(fontsize=8)
  suptitle(fig, f"Fig. 3: synthetic benchmark, {_protocol_label(recs)}, mean ± std over "
           f"{ctx.seeds_note((0,))}")
  return _finish(ctx, fig, "fig3", data)


# ------------------------------------------------------------------------------------- fig4
def fig4(ctx: Context) -> list[Path]:
  """Embeddings, IDW weights and silhouette across the IDW iterations of one MUR-IDW run."""
  _require_synthetic(ctx, "fig4")
  exp = float((ctx.values or (2.0,))[0])
  seed = (ctx.seeds or (0,))[0]
  method = (ctx.methods or ("mur_idw",))[0]
  rec = grid.run_grid(grid.make_specs(ctx.config_file, [method], [seed],
                                      {"data.synthetic.cluster_exponent": [exp]}, ctx.fixed,
                                      ctx.preset), ctx.runs_dir(), jobs=ctx.jobs, echo=ctx.echo,
                      compilation_cache=ctx.compilation_cache, write_tables=False)[0]
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
  cols = panels + ([("final", final)] if final.exists() else [])
  plt = _plt()
  fig = plt.figure(figsize=(2.6 * len(cols) + 0.6, 8.2))
  gs = fig.add_gridspec(3, len(cols), height_ratios=(1, 1, 0.8))
  clusters = None
  for j, (t, path) in enumerate(cols):
    e = _load_npz(path)
    clusters = e["clusters"]
    xy = project(e["item_emb"], ctx.projection, seed)
    ax = fig.add_subplot(gs[0, j])
    _scatter(ax, xy, clusters, e["train_counts"])
    sil = trace[t]["silhouette"] if t != "final" else rec.results["silhouette"]
    ax.set_title(("after calibration" if t == "final" else f"iteration {t}")
                 + f"\nMS {sil:.2f}", fontsize=9)
    ax2 = fig.add_subplot(gs[1, j])
    w = e["item_weight"] / e["item_weight"].sum()
    sc = _scatter(ax2, xy, clusters, e["train_counts"], color_by=w, cmap="magma")
    ax2.set_title("item weight w" + ("" if t == "final" else f"({t})"), fontsize=8)
    fig.colorbar(sc, ax=ax2, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
  ax3 = fig.add_subplot(gs[2, :])
  its = sorted(trace)
  ax3.plot(its, [trace[t]["silhouette"] for t in its], "o-", color="tab:green",
           label="mean silhouette")
  ax3.set_xlabel("IDW iteration (sleep phase)")
  ax3.set_xticks(its)
  ax3.set_ylabel("mean silhouette")
  ax4 = ax3.twinx()
  ax4.semilogy(its, [trace[t]["weight_change"] for t in its], "s--", color="tab:gray",
               label="|w(t+1) - w(t)|")
  eta = rec.results["config"]["idw"]["eta"]
  ax4.axhline(eta, color="tab:gray", lw=0.8, ls=":")
  ax4.set_ylabel("weight change (dotted: eta)")
  ax3.legend(loc="upper left", fontsize=8)
  ax4.legend(loc="upper right", fontsize=8)
  if clusters is not None:
    _cluster_legend(fig, clusters)
  suptitle(fig, f"Fig. 4: {tables.NAMES[method]} on the synthetic benchmark (exponent {exp:g}, "
           f"seed {seed}{', --tiny' if ctx.tiny else ''}): embeddings "
           f"({ctx.projection.upper()}) by cluster (top) and by IDW weight (middle)")
  return _finish(ctx, fig, "fig4", {"run": rec.name, "trace": rec.results["idw_trace"],
                                    "final_silhouette": rec.results["silhouette"]},
                 rect=(0, 0.04, 1, 0.96))


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
  path = tables.fig5_plot(groups, ctx.path("fig5"), f"{ctx.dataset} ({ctx.seeds_note(seeds)})",
                          methods=methods)
  _write_json(ctx.path("fig5", "json"), {"groups": groups})
  return [p for p in (path, ctx.path("fig5", "md")) if p is not None]


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
  groups = _by(recs, lambda r: (r.spec.method,
                                r.results["config"]["model"]["num_interests"]))
  plt = _plt()
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
  data = {}
  for ax, metric in zip(axes, ("HR@20", "NDCG@20")):
    for method in methods:
      if method in single:
        vals = groups.get((method, 1), [])
        if vals:
          m, _ = tables.mean_std([_metric(r, metric) for r in vals])
          ax.axhline(m, ls="--", color=COLORS.get(method), label=f"{tables.NAMES[method]} (M=1)")
          data.setdefault(method, {})[f"{metric}@1"] = m
        continue
      xs, ys, es = [], [], []
      for m_ in ms:
        vals = groups.get((method, m_), [])
        if vals:
          mean, err = tables.mean_std([_metric(r, metric) for r in vals])
          xs.append(m_), ys.append(mean), es.append(err)
          data.setdefault(method, {})[f"{metric}@{m_}"] = [mean, err]
      ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=tables.NAMES[method],
                  color=COLORS.get(method))
    ax.set_xticks(ms)
    ax.set_xlabel("number of user representations M")
    ax.set_ylabel(f"{metric} (%)")
  axes[0].legend(fontsize=8)
  suptitle(fig, f"Fig. 6: effect of M on {ctx.dataset}, {_protocol_label(recs)} "
           f"({ctx.seeds_note((0,))})")
  return _finish(ctx, fig, "fig6", data)


# ------------------------------------------------------------------------------------- fig7
def fig7(ctx: Context) -> list[Path]:
  """MUR-IDW against eta and against momentum (MUR as a reference line)."""
  etas = [float(x) for x in (ctx.values or ctx.pick(ETAS, (4e-4,)))]
  momenta = [float(x) for x in (ctx.values2 or ctx.pick(MOMENTA, (0.9, 1.0)))]
  method = (ctx.methods or ("mur_idw",))[0]
  rec_eta = ctx.run([method], {"idw.eta": etas})
  rec_mom = ctx.run([method], {"idw.momentum": momenta})
  rec_ref = ctx.run(["mur"])
  ref = [r.results for r in rec_ref if r.results]
  plt = _plt()
  fig, axes = plt.subplots(2, 2, figsize=(10, 7))
  data = {}
  for row, (recs, key, xs, label, scale) in enumerate((
      (rec_eta, "idw.eta", etas, "eta (x 1e-4)", 1e4),
      (rec_mom, "idw.momentum", momenta, "momentum m", 1.0))):
    groups = _by(recs, lambda r, k=key: r.spec.sweep[k])
    for col, metric in enumerate(("HR@20", "NDCG@20")):
      ax = axes[row][col]
      px, ys, es, its = [], [], [], []
      for x in xs:
        vals = groups.get(x, [])
        if vals:
          mean, err = tables.mean_std([_metric(r, metric) for r in vals])
          px.append(x * scale), ys.append(mean), es.append(err)
          its.append(np.mean([len(r["idw_trace"]) - 1 for r in vals]))
          data.setdefault(key, {}).setdefault(metric, {})[x] = [mean, err, its[-1]]
      ax.errorbar(px, ys, yerr=es, marker="o", capsize=3, color=COLORS.get(method),
                  label=tables.NAMES[method])
      for x, y, n in zip(px, ys, its):
        ax.annotate(f"{n:g}", (x, y), textcoords="offset points", xytext=(0, 6), fontsize=7,
                    ha="center")
      if ref:
        ax.axhline(np.mean([_metric(r, metric) for r in ref]), ls="--", color=COLORS["mur"],
                   label="MUR")
      ax.set_xlabel(label)
      ax.set_ylabel(f"{metric} (%)")
  axes[0][0].legend(fontsize=8)
  suptitle(fig, f"Fig. 7: IDW hyperparameters on {ctx.dataset}, {_protocol_label(rec_eta)} "
           f"({ctx.seeds_note((0,))}); numbers at points: wake phases run")
  return _finish(ctx, fig, "fig7", data)


# ------------------------------------------------------------------------------------- fig8
def fig8(ctx: Context) -> list[Path]:
  """IDW with and without user-tower calibration (MUR as a reference line)."""
  methods = list(ctx.methods or ctx.pick(("sur_idw", "mur_idw"), ("mur_idw",)))
  seeds = ctx.pick((0, 1), (0,))
  recs = ctx.run(methods, {"idw.calibrate": [True, False]}, seeds=seeds)
  ref = [r.results for r in ctx.run(["mur"], seeds=seeds) if r.results]
  groups = _by(recs, lambda r: (r.spec.method, r.spec.sweep["idw.calibrate"]))
  plt = _plt()
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
  data = {}
  x = np.arange(len(methods))
  for ax, metric in zip(axes, ("HR@20", "NDCG@20")):
    for k, (calib, label) in enumerate(((True, "IDW"), (False, "IDW w/o user calib"))):
      means, errs = [], []
      for method in methods:
        vals = [_metric(r, metric) for r in groups.get((method, calib), [])]
        mean, err = tables.mean_std(vals) if vals else (math.nan, 0.0)
        means.append(mean), errs.append(err)
        data.setdefault(method, {}).setdefault(label, {})[metric] = [mean, err]
      ax.bar(x + (k - 0.5) * 0.38, means, 0.38, yerr=errs, capsize=3, label=label)
    if ref:
      ax.axhline(np.mean([_metric(r, metric) for r in ref]), ls="--", color="k", lw=0.8,
                 label="MUR")
    ax.set_xticks(x, [tables.NAMES[m] for m in methods])
    ax.set_ylabel(f"{metric} (%)")
    lo = np.nanmin([v[metric][0] for d in data.values() for v in d.values()] or [0])
    ax.set_ylim(bottom=max(0.0, lo - 10))
  axes[0].legend(fontsize=8)
  suptitle(fig, f"Fig. 8: user-tower calibration on {ctx.dataset}, {_protocol_label(recs)} "
           f"({ctx.seeds_note(seeds)})")
  return _finish(ctx, fig, "fig8", data)


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
  syn = ctx.config() if ctx.is_synthetic else grid.load_config("configs/synthetic.py")
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
    files = [f for f in REAL_CONFIGS if grid.resolve_config_file(f).exists()]
    if not ctx.is_synthetic:
      files = [ctx.config_file] + [f for f in files if grid.resolve_config_file(f) !=
                                   grid.resolve_config_file(ctx.config_file)]
  from idw_jax.data import pipeline
  for f in files:
    c = grid.load_config(f)
    if c.data.source != "synthetic" and not pipeline.resolve_path(c.data).exists():
      ctx.echo(f"fig9: skipping {c.data.name} ({pipeline.resolve_path(c.data)} not found)")
      continue
    curves.append((c.data.name, [(c.data.name, item_frequencies(c.data))]))
  plt = _plt()
  fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), squeeze=False)
  data = {}
  for ax, (title, series) in zip(axes[0], curves):
    for label, counts in series:
      freq = counts / max(counts.sum(), 1)
      ax.plot(np.arange(1, freq.size + 1), freq, label=label, lw=1.2)
      top = max(int(math.ceil(0.2 * counts.size)), 1)
      data[f"{title}/{label}"] = {"items": int(counts.size), "events": int(counts.sum()),
                                  "top20pct_share": float(counts[:top].sum() / counts.sum())}
    ax.set_yscale("log")
    ax.set_xlabel("items sorted by frequency")
    ax.set_ylabel("normalised frequency")
    ax.set_title(title, fontsize=9)
    if len(series) > 1:
      ax.legend(fontsize=7)
  suptitle(fig, "Fig. 9: item distribution (share of interactions per item)")
  return _finish(ctx, fig, "fig9", data)


FIGURES = {"fig1": fig1, "fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6, "fig7": fig7,
           "fig8": fig8, "fig9": fig9}


# --------------------------------------------------------------------------------------- CLI
def _numbers(text, flag: str):
  """The swept values of --values / --values2 (numbers, as written), None when not given."""
  return grid.parse_numbers(text, flag, as_written=True) if text else None


def main(argv):
  from absl import flags, logging
  f = flags.FLAGS
  if not f["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  names = argv[1:] or ["all"]
  names = list(FIGURES) if names == ["all"] else names
  unknown = [n for n in names if n not in FIGURES]
  if unknown:
    raise SystemExit(f"unknown figure(s) {unknown}; choose from {list(FIGURES)} or 'all'")
  file, arg, overrides = grid.config_flag_parts(f["config"])
  overrides = grid.fixed_overrides(arg, overrides)
  preset = overrides.pop("preset", _CONFIG.value.preset)
  for key in ("method", "seed"):
    overrides.pop(key, None)
  ctx = Context(config_file=file, preset=preset, fixed=overrides,
                seeds=grid.parse_seeds(f.seeds) if f.seeds else None,
                methods=grid.parse_methods(f.methods) if f.methods else None,
                values=_numbers(f.values, "--values"), values2=_numbers(f.values2, "--values2"),
                datasets=f.datasets.split(",") if f.datasets else None,
                projection=f.projection, tiny=f.tiny, out=Path(f.out),
                runs=Path(f.runs) if f.runs else None, jobs=f.jobs, controls=f.controls,
                compilation_cache=f.compilation_cache, echo=lambda s: print(s, flush=True))
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
  flags.DEFINE_integer("jobs", 1, "Runs at a time (see idw_jax.experiments.grid).")
  flags.DEFINE_string("compilation_cache", compilation_cache_lib.DEFAULT,
                      "JAX persistent compilation cache ('' = off).")
  return grid.define_config_flag()


if __name__ == "__main__":
  from idw_jax import cli
  _CONFIG = _define_flags()
  cli.run(main)
