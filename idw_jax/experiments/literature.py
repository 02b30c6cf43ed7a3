r"""Our leave-one-out runs on ML-1M beside the field's published numbers, from the run records.

  python -m idw_jax.experiments.literature [--records=results/ml1m-loo/records]
                                          [--out=results/ml1m-loo/table.md]

Prints the markdown table the README holds and writes it to --out. A row of ours is every
record of one kind (SUR at SASRec's settings, SUR / MUR / MUR-IDW of the paper preset, MUR-IDW's
m = 1 control), mean ± standard deviation over its seeds, on three rankings of the held-out last
item: SASRec's sampled metric (against 100 items the user never interacted with), the full
corpus with the user's earlier items left in ("full") and taken out ("full, no history"). The
seconds per epoch are the median over the record's epochs (history "timing" total: steps,
validation, checkpoint; the median, as a run paused by SIGSTOP for a timing elsewhere has one
long epoch that its wall_seconds counts too) and the training time is epochs x that median (for
an IDW run or its control, the epochs after its reused pretraining). Published rows are data
(PUBLISHED) with their source and protocol; only numbers checked in their source are listed.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

RANKINGS = (("sampled", "sampled (100 negatives)"), ("full", "full, history kept"),
            ("full_no_history", "full, no history"))


@dataclasses.dataclass(frozen=True)
class Published:
  """A published ML-1M leave-one-out result: HR@10 / NDCG@10 (fractions) on one ranking."""
  name: str
  ranking: str            # a key of RANKINGS
  hr10: str
  ndcg10: str
  source: str
  note: str


PUBLISHED = (
    Published("SASRec", "sampled", "0.8245", "0.5905",
              "Kang & McAuley, ICDM 2018, Table III",
              "BCE with one negative; 3,416 items (fewer than 5 events dropped); d = 50, 200 "
              "epochs"),
    Published("SASRec.pytorch", "sampled", "0.8190-0.8225", "0.5897-0.5918",
              "pmixer/SASRec.pytorch README (two runs)", "the authors' settings, d = 50, max "
              "length 200, dropout 0.2"),
    Published("BERT4Rec", "full_no_history", "0.2843", "0.1537",
              "Klenitskiy & Vasilev, RecSys 2023 (antklen/sasrec-bert4rec-recsys23 README)",
              "their BERT4Rec run; BERT4Rec's ML-1M (3,416 items), rated items filtered "
              "(filter_seen)"),
    Published("SASRec (BCE, 1 negative)", "full_no_history", "0.2500", "0.1341",
              "Klenitskiy & Vasilev, RecSys 2023 (same table)", "d = 64, max length 200"),
    Published("SASRec+ (softmax over all items)", "full_no_history", "0.3152", "0.1821",
              "Klenitskiy & Vasilev, RecSys 2023 (same table)", "d = 64, max length 200, "
              "dropout 0.1"),
    Published("gSASRec", "full_no_history", "0.3003", "0.1726",
              "Petrov & Macdonald, RecSys 2023 (asash/gSASRec-pytorch README, released "
              "checkpoint)", "gBCE t = 0.75, d = 128; SASRec's ML-1M, rated items filtered "
              "(filter_rated); its SASRec (BCE) row: 0.2392 / 0.1259"),
)


def kind(record: dict) -> str:
  """The row a record belongs to, from its config alone."""
  c = record["config"]
  method = c["method"]
  if method == "sur" and c["model"]["embed_dim"] == 50 and c["data"]["protocol"]["max_len"] > 30:
    return "SUR, SASRec's settings"
  if method.endswith("_idw") and c["idw"]["momentum"] == 1.0 and c["idw"]["eta"] == 0.0:
    return "MUR-IDW's m = 1 control" if method == "mur_idw" else f"{method} m = 1 control"
  names = {"sur": "SUR", "mur": "MUR", "mur_idw": "MUR-IDW", "sur_idw": "SUR-IDW"}
  return f"{names.get(method, method)}, paper preset"


ORDER = ("SUR, SASRec's settings", "SUR, paper preset", "MUR, paper preset",
         "MUR-IDW, paper preset", "MUR-IDW's m = 1 control")


def load(pattern: str) -> dict[str, list[dict]]:
  """{row: [record, ...] ordered by seed} of every record matching the glob."""
  rows: dict[str, list[dict]] = {}
  for path in sorted(glob.glob(pattern)):
    with open(path) as f:
      record = json.load(f)
    if record.get("config", {}).get("data", {}).get("protocol", {}).get("split") != \
        "leave_one_out":
      raise ValueError(f"{path}: not a leave-one-out record (data.protocol.split)")
    rows.setdefault(kind(record), []).append(record)
  for recs in rows.values():
    seeds = [r["seed"] for r in recs]
    if len(set(seeds)) != len(seeds):
      raise ValueError(f"two records of one seed for {kind(recs[0])!r}: seeds {seeds}")
    recs.sort(key=lambda r: r["seed"])
  return rows


def _cell(values: Sequence[float]) -> str:
  """Mean ± standard deviation (ddof 1) as fractions, 4 decimals; one value as it is."""
  v = np.asarray(values, dtype=np.float64) / 100.0
  return f"{v[0]:.4f}" if v.size == 1 else f"{v.mean():.4f} ± {v.std(ddof=1):.4f}"


def epoch_seconds(record: dict) -> tuple[float, int]:
  """(median seconds of the record's epochs, number of epochs)."""
  secs = [h["timing"]["total"] for h in record["history"]]    # "seconds" counts from the start
  return float(np.median(secs)), len(secs)


def table(rows: dict[str, list[dict]]) -> str:
  """The markdown table: our rows in ORDER (then any other), then the published ones."""
  head = ["model", "seeds"] + [f"{label}: HR@10 / NDCG@10" for _, label in RANKINGS] + [
      "epochs", "s / epoch", "training (min)", "source"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for name in [*[n for n in ORDER if n in rows], *sorted(set(rows) - set(ORDER))]:
    recs = rows[name]
    cells = [name, ",".join(str(r["seed"]) for r in recs)]
    for key, _ in RANKINGS:
      got = [r["test"].get(key) for r in recs]
      cells.append("-" if any(g is None for g in got) else
                   _cell([g["overall"]["HR@10"] for g in got]) + " / " +
                   _cell([g["overall"]["NDCG@10"] for g in got]))
    timing = [epoch_seconds(r) for r in recs]
    cells += [f"{np.mean([n for _, n in timing]):.0f}", f"{np.mean([s for s, _ in timing]):.0f}",
              f"{np.mean([s * n for s, n in timing]) / 60:.0f}", "ours (records)"]
    lines.append("| " + " | ".join(cells) + " |")
  for p in PUBLISHED:
    cells = [p.name, "-"] + [f"{p.hr10} / {p.ndcg10}" if key == p.ranking else "-"
                             for key, _ in RANKINGS] + ["-", "-", "-", f"{p.source}; {p.note}"]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
  from absl import flags
  if len(argv) != 1:
    print("usage: python -m idw_jax.experiments.literature [--records=DIR] [--out=FILE] (--help)",
          file=sys.stderr)
    return 2
  records, out = Path(flags.FLAGS.records), Path(flags.FLAGS.out)
  rows = load(os.path.join(records, "*.json")) if records.is_dir() else {}
  if not rows:
    print(f"literature: no run records in {records}", file=sys.stderr)
    return 1
  text = table(rows)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(text + "\n")
  print(text)
  print(f"literature: {out}")
  return 0


def _define_flags():
  from absl import flags
  flags.DEFINE_string("records", "results/ml1m-loo/records", "The leave-one-out run records.")
  flags.DEFINE_string("out", "results/ml1m-loo/table.md", "Where the table is written (it is "
                      "printed too).")


if __name__ == "__main__":
  from idw_jax import cli
  _define_flags()
  cli.run(main)
