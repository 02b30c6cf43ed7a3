"""Dataset summary: the paper's Table 2 row (users, items, average length) plus what was dropped.

The drop report comes from the reader (`UserSequences.report`), so every count in the table can
be traced to the raw file: lines read, events filtered and why, duplicates dropped.
"""

from __future__ import annotations

from typing import Any

from idw_jax.data.types import UserSequences

_COLUMNS = ("Dataset", "# Users", "# Items", "Avg Seq Length")


def summarize(seqs: UserSequences, name: str, windows: int | None = None) -> dict[str, Any]:
  """Counts of `seqs` under `name`; `windows` (training windows made from it) when given."""
  users = seqs.num_users
  summary = {
      "dataset": name,
      "users": users,
      "items": int(seqs.num_items),
      "interactions": seqs.num_interactions,
      "avg_seq_length": seqs.num_interactions / users if users else 0.0,
  }
  if windows is not None:
    summary["windows"] = int(windows)
  summary["report"] = dict(seqs.report)
  return summary


def _fmt(value: Any) -> str:
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    return str(value)
  return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def format_summary(summaries: dict[str, Any] | list[dict[str, Any]]) -> str:
  """A Markdown table shaped like the paper's Table 2, then each dataset's drop report."""
  rows = [summaries] if isinstance(summaries, dict) else list(summaries)
  columns = list(_COLUMNS) + ["# Interactions"]
  with_windows = any("windows" in d for d in rows)
  if with_windows:
    columns.append("# Windows")
  table = [columns]
  for d in rows:
    row = [d["dataset"], _fmt(d["users"]), _fmt(d["items"]), f"{d['avg_seq_length']:.1f}",
           _fmt(d["interactions"])]
    if with_windows:
      row.append(_fmt(d["windows"]) if "windows" in d else "-")
    table.append(row)
  widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
  lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(table[0], widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
  for row in table[1:]:
    cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
    lines.append("| " + " | ".join(cells) + " |")
  for d in rows:
    report = d.get("report") or {}
    if report:
      lines.append("")
      lines.append(f"{d['dataset']}: what the reader kept, dropped and why")
      key_width = max(map(len, report))
      lines.extend(f"  {k.ljust(key_width)}  {_fmt(v)}" for k, v in report.items())
  return "\n".join(lines)
