"""Data pipeline cost: generate/read the sequences, then build the protocol splits; one JSON line.

  python benchmarks/data_pipeline.py --config=configs/clothing_scale.py
  python benchmarks/data_pipeline.py --config=configs/ml1m.py

Reports the seconds of each stage, the sizes (users, items, events, windows, negatives) and the
process's peak RSS, which is the bound that matters at Clothing scale (8 GB on the 2-core CPU).
"""

from __future__ import annotations

import argparse
import time

import common  # pylint: disable=g-bad-import-order
from idw_jax.data import pipeline  # pylint: disable=g-bad-import-order


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  common.add_config_args(parser, "configs/clothing_scale.py")
  parser.add_argument("--tfds-dir", default=None, help="read real data through TFDS here")
  args = parser.parse_args()
  cfg = common.load_config(args.config, args.set)
  start = time.perf_counter()
  seqs = pipeline.load_sequences(cfg.data, args.tfds_dir)
  loaded = time.perf_counter()
  splits = pipeline.make_splits(cfg.data, seqs)
  done = time.perf_counter()
  common.emit({
      "benchmark": "data_pipeline", **common.device_info(), "dataset": cfg.data.name,
      "users": seqs.num_users, "items": seqs.num_items, "events": seqs.num_interactions,
      "windows": splits.num_windows, "train_examples": splits.num_train_examples,
      "negatives": None if splits.negatives is None else list(splits.negatives.shape),
      "load_seconds": common.fmt(loaded - start), "splits_seconds": common.fmt(done - loaded),
      "peak_rss_mb": common.peak_rss_mb()})


if __name__ == "__main__":
  main()
