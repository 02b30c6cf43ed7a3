"""Data pipeline cost: generate/read the sequences, then build the protocol splits; one JSON line.

  python benchmarks/data_pipeline.py --config=configs/clothing_scale.py
  python benchmarks/data_pipeline.py --config=configs/ml1m.py

Reports the seconds of each stage, the sizes (users, items, events, windows, negatives) and the
process's peak RSS, which is the bound that matters at Clothing scale (8 GB on the 2-core CPU).

Flags (absl, `--help` lists them):
  --config, --set   config file[:method[,preset]] and KEY=VALUE overrides (benchmarks/common.py)
  --tfds_dir         read real data through TFDS here (also --tfds-dir)
"""

from __future__ import annotations

import time

from absl import flags

import common  # pylint: disable=g-bad-import-order
from idw_jax.data import pipeline  # pylint: disable=g-bad-import-order


def _define_flags():
  common.define_config_flags("configs/clothing_scale.py")
  flags.DEFINE_string("tfds_dir", None, "Read real data through TFDS here.")
  flags.DEFINE_alias("tfds-dir", "tfds_dir")


def main() -> dict:
  args = flags.FLAGS
  cfg = common.load_config(args.config, args.set)
  start = time.perf_counter()
  seqs = pipeline.load_sequences(cfg.data, args.tfds_dir)
  loaded = time.perf_counter()
  splits = pipeline.make_splits(cfg.data, seqs)
  done = time.perf_counter()
  return common.emit({
      "benchmark": "data_pipeline", **common.device_info(), "dataset": cfg.data.name,
      "users": seqs.num_users, "items": seqs.num_items, "events": seqs.num_interactions,
      "windows": splits.num_windows, "train_examples": splits.num_train_examples,
      "negatives": None if splits.negatives is None else list(splits.negatives.shape),
      "load_seconds": common.fmt(loaded - start), "splits_seconds": common.fmt(done - loaded),
      "peak_rss_mb": common.peak_rss_mb()})


if __name__ == "__main__":
  _define_flags()
  common.run(main)
