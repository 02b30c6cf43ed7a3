"""The data of a run, as launch.py and the grid load it: splits and the dataset's summary."""

from __future__ import annotations

from pathlib import Path


def load_data(cfg, workdir: Path):
  """(splits, dataset summary) of the run's data config; real data goes through TFDS under
  data.tfds_dir (default: a tfds/ folder beside the workdir, shared by a grid's runs)."""
  from idw_jax.data import pipeline, summary
  tfds_dir = cfg.data.tfds_dir or str(Path(workdir).parent / "tfds")
  seqs = pipeline.load_sequences(cfg.data, tfds_dir)
  splits = pipeline.make_splits(cfg.data, seqs)
  info = summary.summarize(seqs, cfg.data.name, windows=splits.num_windows)
  info["report"].update({f"protocol.{k}": v for k, v in splits.report.items()})
  return splits, info
