"""Drawing the paper's figures from numbers: every function here takes what to draw (points,
means, errors, labels, 2-D embeddings) and writes a PNG; none runs, reads or aggregates a run
(idw_jax.experiments.figures, search and tables do, then call these)."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np

from idw_jax import methods as methods_lib

FIG5_METHODS = ("qmargin", "item_norm", "mur_idw")   # the paper's Fig. 5 (against MUR)


def label(method: str) -> str:
  """A method's name in tables and figures (Table 1's), else the name as given."""
  m = methods_lib.BY_NAME.get(method)
  return m.title if m else method


def color(method: str) -> str | None:
  """A method's colour in every figure (methods.TABLE), None for anything else."""
  m = methods_lib.BY_NAME.get(method)
  return m.color if m else None


def sweep_title(sweep: dict) -> str:
  """A sweep group's title: "cluster_exponent = 2.0, eta = 0.0001"."""
  return ", ".join(f"{k} = {v}" for k, v in sweep.items())


def pyplot():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def suptitle(fig, text: str, chars_per_inch: int = 15):
  """A figure title wrapped to the figure's width."""
  fig.suptitle(textwrap.fill(text, width=int(fig.get_figwidth() * chars_per_inch)), fontsize=9)


def save(fig, path: Path, rect=(0, 0, 1, 1), dpi: int = 120) -> Path:
  """Lays the figure out inside `rect`, writes it to path and closes it."""
  fig.tight_layout(rect=rect)
  fig.savefig(path, dpi=dpi)
  pyplot().close(fig)
  return path


# ------------------------------------------------------------------------------ line panels
@dataclasses.dataclass
class Series:
  """One line of a panel: y (with errors when given) against x, `notes` written above points;
  style: matplotlib keywords (color, ls, marker, mfc, ms)."""

  label: str
  xs: Sequence[float]
  ys: Sequence[float]
  errs: Sequence[float] | None = None
  notes: Sequence[str] | None = None
  style: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Panel:
  """One axes: its series, horizontal reference lines [(y, label, style)], labels, ticks."""

  series: list[Series]
  xlabel: str = ""
  ylabel: str = ""
  title: str = ""
  hlines: list[tuple[float, str, dict]] = dataclasses.field(default_factory=list)
  xticks: Sequence[float] | None = None
  legend: bool = False


def draw_panel(ax, p: Panel):
  for s in p.series:
    style = {"marker": "o", **s.style}
    if s.errs is not None:
      ax.errorbar(s.xs, s.ys, yerr=s.errs, capsize=3, label=s.label, **style)
    else:
      ax.plot(s.xs, s.ys, label=s.label, **style)
    for x, y, note in zip(s.xs, s.ys, s.notes or ()):
      ax.annotate(note, (x, y), textcoords="offset points", xytext=(0, 6), fontsize=7,
                  ha="center")
  for y, text, style in p.hlines:
    ax.axhline(y, label=text, **{"ls": "--", **style})
  if p.xticks is not None:
    ax.set_xticks(p.xticks)
  ax.set_xlabel(p.xlabel)
  ax.set_ylabel(p.ylabel)
  if p.title:
    ax.set_title(p.title, fontsize=9)
  if p.legend:
    ax.legend(fontsize=8 if len(p.series) + len(p.hlines) < 6 else 7)


def panels(grid: Sequence[Sequence[Panel]], path: Path, title: str, figsize) -> Path:
  """A figure of line panels (rows x columns) with a wrapped title."""
  plt = pyplot()
  fig, axes = plt.subplots(len(grid), len(grid[0]), figsize=figsize, squeeze=False)
  for row, axs in zip(grid, axes):
    for p, ax in zip(row, axs):
      draw_panel(ax, p)
  suptitle(fig, title)
  return save(fig, path, rect=(0, 0, 1, 0.95) if len(grid) > 1 else (0, 0, 1, 1))


# ----------------------------------------------------------------------------- embeddings
@dataclasses.dataclass
class Embedding:
  """Items in 2-D: xy [N, 2], their ground-truth cluster and training count (marker area)."""

  xy: np.ndarray
  clusters: np.ndarray
  counts: np.ndarray


def scatter(ax, e: Embedding, color_by=None, cmap="viridis"):
  """Items as points coloured by cluster (or by `color_by`), area ~ training frequency."""
  size = 8 + 120 * np.sqrt(e.counts / max(e.counts.max(), 1))
  if color_by is None:
    colors = np.asarray(e.clusters) % 10
    sc = ax.scatter(e.xy[:, 0], e.xy[:, 1], c=colors, cmap="tab10", vmin=0, vmax=9, s=size,
                    edgecolors="k", linewidths=0.3)
  else:
    sc = ax.scatter(e.xy[:, 0], e.xy[:, 1], c=color_by, cmap=cmap, s=size, edgecolors="k",
                    linewidths=0.3)
  ax.set_xticks([])
  ax.set_yticks([])
  return sc


def cluster_legend(fig, clusters):
  plt = pyplot()
  cmap = plt.get_cmap("tab10")
  handles = [plt.Line2D([], [], marker="o", ls="", color=cmap(int(c) % 10), label=f"cluster {c}")
             for c in sorted(set(int(c) for c in clusters))]
  fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)


def fig1(cells: Sequence[Sequence[tuple[str, Embedding | None]]], row_labels: Sequence[str],
         path: Path, title: str) -> Path:
  """Item embeddings, a panel per (row, column): cells[i][j] = (panel title, embedding or None
  where the run has none)."""
  plt = pyplot()
  rows, cols = len(cells), len(cells[0])
  fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.2 * rows + 0.5), squeeze=False)
  clusters = None
  for i, row in enumerate(cells):
    for j, (text, emb) in enumerate(row):
      ax = axes[i][j]
      if emb is None:
        ax.set_title(text, fontsize=8)
        continue
      scatter(ax, emb)
      clusters = emb.clusters
      ax.set_title(text, fontsize=9)
    axes[i][0].set_ylabel(row_labels[i])
  if clusters is not None:
    cluster_legend(fig, clusters)
  suptitle(fig, title)
  return save(fig, path, rect=(0, 0.05, 1, 0.95))


def fig4(columns: Sequence[tuple[str, str, Embedding, np.ndarray]], iterations: Sequence[int],
         silhouette: Sequence[float], weight_change: Sequence[float], eta: float, path: Path,
         title: str) -> Path:
  """Embeddings by cluster (top) and by IDW weight (middle), one column per IDW iteration
  (columns: (title, weight panel's title, embedding, normalised item weights)); silhouette and
  weight change per iteration against eta (bottom)."""
  plt = pyplot()
  fig = plt.figure(figsize=(2.6 * len(columns) + 0.6, 8.2))
  gs = fig.add_gridspec(3, len(columns), height_ratios=(1, 1, 0.8))
  for j, (text, weight_text, emb, weight) in enumerate(columns):
    ax = fig.add_subplot(gs[0, j])
    scatter(ax, emb)
    ax.set_title(text, fontsize=9)
    ax2 = fig.add_subplot(gs[1, j])
    sc = scatter(ax2, emb, color_by=weight, cmap="magma")
    ax2.set_title(weight_text, fontsize=8)
    fig.colorbar(sc, ax=ax2, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
  ax3 = fig.add_subplot(gs[2, :])
  ax3.plot(iterations, silhouette, "o-", color="tab:green", label="mean silhouette")
  ax3.set_xlabel("IDW iteration (sleep phase)")
  ax3.set_xticks(iterations)
  ax3.set_ylabel("mean silhouette")
  ax4 = ax3.twinx()
  ax4.semilogy(iterations, weight_change, "s--", color="tab:gray", label="|w(t+1) - w(t)|")
  ax4.axhline(eta, color="tab:gray", lw=0.8, ls=":")
  ax4.set_ylabel("weight change (dotted: eta)")
  ax3.legend(loc="upper left", fontsize=8)
  ax4.legend(loc="upper right", fontsize=8)
  if columns:
    cluster_legend(fig, columns[-1][2].clusters)
  suptitle(fig, title)
  return save(fig, path, rect=(0, 0.04, 1, 0.96))


# -------------------------------------------------------------------------- IDW's m and eta
def _fig7_panel(cells: dict, along: str, key: str, reference: float | None) -> Panel:
  """NDCG@20 of the cells {(m, eta): cell} against eta (along="eta", a line per m) or against
  m (a line per eta); a line needs two points unless no line has two."""
  x_of = (lambda m, eta: eta * 1e4) if along == "eta" else (lambda m, eta: m)
  line_of = (lambda m, eta: m) if along == "eta" else (lambda m, eta: eta)
  lines: dict[float, list] = {}
  for (m, eta), cell in sorted(cells.items()):
    lines.setdefault(line_of(m, eta), []).append((x_of(m, eta), cell))
  if any(len(v) > 1 for v in lines.values()):
    lines = {k: v for k, v in lines.items() if len(v) > 1}
  name = "m" if along == "eta" else "eta"
  cmap = pyplot().cm.viridis
  series = []
  for k, (value, points) in enumerate(sorted(lines.items())):
    points.sort(key=lambda p: p[0])
    style = {"color": cmap(0.85 * k / max(len(lines) - 1, 1))}
    series.append(Series(f"{name} = {value:g}", [x for x, _ in points],
                         [c["ndcg"] for _, c in points],
                         notes=[",".join(map(str, c["wakes"])) for _, c in points], style=style))
    ctrl = [(x, c["control_ndcg"]) for x, c in points if c.get("control_ndcg") is not None]
    if ctrl:
      series.append(Series(f"m = 1 control of {name} = {value:g}", [x for x, _ in ctrl],
                           [y for _, y in ctrl],
                           style={**style, "ls": "none", "mfc": "none", "ms": 9}))
  split = "validation" if key == "valid" else "test"
  return Panel(series, "eta (x 1e-4)" if along == "eta" else "momentum m",
               f"{split} NDCG@20 (%)",
               hlines=[] if reference is None else [(reference, "MUR", {"color": color("mur")})],
               legend=True)


def fig7_panels(data: dict) -> list[list[Panel]]:
  """Fig. 7's panels: per method a row for validation and one for test NDCG@20 of IDW's
  (m, eta) cells, against eta (a line per m) and against m (a line per eta); numbers at
  points: the wake phases of each seed's run; open markers: a cell's m = 1 control (test);
  dashed: the reference method. data: search.fig7_data ({method: {"valid" | "test_ndcg":
  {m: {eta: cell}}}}, "reference": {"valid", "test_ndcg"} optional)."""
  reference = data.get("reference") or {}
  rows = []
  for method, by_key in data.items():
    if method == "reference":
      continue
    for key in ("valid", "test_ndcg"):
      cells = {(float(m), float(eta)): cell for m, by_eta in by_key[key].items()
               for eta, cell in by_eta.items()}
      row = [_fig7_panel(cells, along, key, reference.get(key)) for along in ("eta", "m")]
      row[0].title = row[1].title = f"{label(method)}, {'validation' if key == 'valid' else 'test'}"
      rows.append(row)
  return rows


def fig7(data: dict, path: Path, title: str) -> Path:
  """Fig. 7 (fig7_panels) as a PNG."""
  rows = fig7_panels(data)
  return panels(rows, path, title, figsize=(10, 3.6 * len(rows)))


# ------------------------------------------------------------------------------------ bars
def fig5(groups: Sequence[dict], path: Path, title: str,
         methods: Sequence[str] | None = None) -> Path | None:
  """Bar chart: change of the metric vs MUR (%) per item set, one panel per sweep group
  (groups: tables.fig5_entries; every method but MUR, or the paper's three when more than four
  are there and `methods` is None)."""
  if not groups:
    return None
  plt = pyplot()
  n = len(groups)
  fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 0.8, 3.6), squeeze=False)
  for ax, g in zip(axes[0], groups):
    splits = list(g["rows"][0]["relative"])
    rows = [r for r in g["rows"] if r["method"] != "mur"]
    if methods is None and len(rows) > 4:        # the paper's panel: Qmargin, Item Norm, IDW
      methods = [r["method"] for r in rows if r["method"] in FIG5_METHODS] or None
    rows = [r for r in rows if methods is None or r["method"] in methods]
    width = 0.8 / max(len(rows), 1)
    x = np.arange(len(splits))
    for j, r in enumerate(rows):
      ax.bar(x + (j - (len(rows) - 1) / 2) * width, [r["relative"][s] for s in splits], width,
             label=label(r["method"]), color=color(r["method"]))
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(x, splits)
    ax.set_ylabel(f"{g['metric']} change vs. MUR (%)")
    if g["sweep"]:
      ax.set_title(sweep_title(g["sweep"]), fontsize=9)
  if axes[0][-1].get_legend_handles_labels()[0]:
    axes[0][-1].legend(fontsize=7, loc="best")
  suptitle(fig, title, chars_per_inch=12)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def fig8(groups: Sequence[str], bars: dict[str, tuple[list, list]], path: Path, title: str,
         metrics: Sequence[str], reference: dict[str, float] | None = None) -> Path:
  """Grouped bars per metric panel: bars[name] = (means per metric per group, errors alike),
  i.e. bars[name][0][k][g] is metric k of group g; `reference` a dashed line per metric."""
  plt = pyplot()
  fig, axes = plt.subplots(1, len(metrics), figsize=(9, 3.8), squeeze=False)
  x = np.arange(len(groups))
  width = 0.76 / max(len(bars), 1)
  for k, (ax, metric) in enumerate(zip(axes[0], metrics)):
    for j, (name, (means, errs)) in enumerate(bars.items()):
      ax.bar(x + (j - (len(bars) - 1) / 2) * width, means[k], width, yerr=errs[k], capsize=3,
             label=name)
    if reference:
      ax.axhline(reference[metric], ls="--", color="k", lw=0.8, label="MUR")
    ax.set_xticks(x, groups)
    ax.set_ylabel(f"{metric} (%)")
    lo = np.nanmin([v for means, _ in bars.values() for v in means[k]] or [0])
    ax.set_ylim(bottom=max(0.0, lo - 10))
  axes[0][0].legend(fontsize=8)
  suptitle(fig, title)
  return save(fig, path)


# ---------------------------------------------------------------------------- distributions
def fig9(curves: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]], path: Path,
         title: str) -> Path:
  """Normalised item frequency against items sorted by frequency, a panel per (title,
  [(label, frequencies)])."""
  plt = pyplot()
  fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), squeeze=False)
  for ax, (text, series) in zip(axes[0], curves):
    for name, freq in series:
      ax.plot(np.arange(1, freq.size + 1), freq, label=name, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("items sorted by frequency")
    ax.set_ylabel("normalised frequency")
    ax.set_title(text, fontsize=9)
    if len(series) > 1:
      ax.legend(fontsize=7)
  suptitle(fig, title)
  return save(fig, path)
