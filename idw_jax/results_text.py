"""A run's results as text, without jax: the test table, the phase table's lines and the line of
a resumed run. The driver and its observers print them while a run runs; a finished run's rerun
(idw_jax/finished.py) prints them from its files, before jax is imported."""

from __future__ import annotations

from idw_jax import provenance


def _fmt(x, spec=".2f"):
  return "-" if x is None else format(x, spec)


def resumed_line(workdir, cursor) -> str:
  """A resumed run's first line (cursor: run_state.Cursor, or a checkpoint meta's namespace)."""
  return (f"resuming {workdir} at phase {cursor.phase} (IDW iteration {cursor.idw_iter}, "
          f"epoch {cursor.epoch}, step {cursor.step})")


def phase_header(metric: str) -> str:
  """The phase table's header; metric: the validation metric of its best_valid column."""
  return (f"{'phase':<14}{'epochs':>7}{'valid ' + metric:>15}{'|dw|':>10}"
          f"{'silhouette':>12}{'seconds':>9}")


def phase_line(row: dict) -> str:
  """A row of the phase table (row: results.json "phases", reporting.phase_row)."""
  note = f"  (best_valid: {row['metric']})" if "metric" in row else ""
  return (f"{row['phase']:<14}{_fmt(row.get('epochs'), 'd'):>7}"
          f"{_fmt(row.get('best_valid')):>15}{_fmt(row.get('weight_change'), '.2e'):>10}"
          f"{_fmt(row.get('silhouette'), '.3f'):>12}{row['seconds']:>9.1f}{note}")


def results_table(results: dict) -> str:
  """Test metrics as a small text table: rows overall/head/tail, full and sampled ranking."""
  lines = []
  negatives = (results.get("config") or {}).get("data", {}).get("protocol", {}).get(
      "num_negatives", 99)
  for kind in ("full", "full_no_history", "sampled"):
    block = results["test"].get(kind)
    if block is None:
      continue
    keys = [k for k in block["overall"] if k != "count"]
    title = {"full": "full-corpus ranking",
             "full_no_history": "full-corpus ranking without the user's history",
             "sampled": f"sampled (1 + {negatives}) ranking"}[kind]
    lines.append(f"test, {title} (%):")
    lines.append(f"  {'split':<9}{'count':>8}" + "".join(f"{k:>10}" for k in keys))
    for split in ("overall", "head", "tail"):
      m = block[split]
      lines.append(f"  {split:<9}{m['count']:>8d}" + "".join(f"{m[k]:>10.2f}" for k in keys))
  if results.get("silhouette") is not None:
    lines.append(f"mean silhouette of item embeddings: {results['silhouette']:.3f}")
  lines.append(f"wall time {results['wall_seconds']:.1f} s on {results['device']['count']} x "
               f"{results['device']['kind']}"
               + (f" ({provenance.cpu_identity(results)})" if results.get("host") else ""))
  return "\n".join(lines)
