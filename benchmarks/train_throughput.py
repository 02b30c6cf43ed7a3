"""Training throughput (warm, after compilation) of a config; prints one JSON line.

  python benchmarks/train_throughput.py --config=configs/ml1m.py:mur_idw
  python benchmarks/train_throughput.py --config=configs/ml1m.py:mur,authors_code \
      --set train.batch_size=512

Times `--steps` steps of the first epoch through `Trainer.train_steps` (one jitted call,
`block_until_ready`) after a warm-up call of the same length that compiles it. Reports
training windows/s, training examples/s (targets: every prefix of a window under the paper
preset, one per window under authors_code) and steps/s. Runs on all devices (data mesh).
`--trace DIR` records the timed calls with `jax.profiler` and adds the compiled ops with
the most time per step (`top_ops_per_step`); the full trace opens in Perfetto or TensorBoard.

Flags (absl, `--help` lists them):
  --config, --set   config file[:method[,preset]] and KEY=VALUE overrides (benchmarks/common.py)
  --steps, --repeats timed steps (also the warm-up) and timed calls (the best counts)
  --tfds_dir         read real data through TFDS here (also --tfds-dir)
  --trace            a jax.profiler trace of the timed calls to this folder
"""

from __future__ import annotations

import jax
import numpy as np
from absl import flags

import common  # pylint: disable=g-bad-import-order
from idw_jax import sharding  # pylint: disable=g-bad-import-order
from idw_jax.train import Trainer


def examples_in(splits, windows: np.ndarray) -> int:
  """Training targets held by the given windows (every prefix, or the last one); a window's
  last splits.held_out items (the windows split's validation and test) are no targets."""
  n = splits.lengths[windows].astype(np.int64) - splits.held_out
  if splits.train_targets == "every_prefix":
    return int(np.maximum(n - 1, 0).sum())
  return int((n >= 2).sum())


def _define_flags():
  common.define_config_flags("configs/synthetic.py")
  flags.DEFINE_integer("steps", 50, "Timed steps (also the warm-up).")
  flags.DEFINE_integer("repeats", 1, "Timed calls; the best counts.")
  flags.DEFINE_string("tfds_dir", None, "Read real data through TFDS here.")
  flags.DEFINE_alias("tfds-dir", "tfds_dir")
  flags.DEFINE_string("trace", None, "Write a jax.profiler trace of the timed calls to this "
                      "folder (open in TensorBoard's profile tab or Perfetto).")


def main() -> dict:
  args = flags.FLAGS

  cfg = common.load_config(args.config, args.set)
  splits, data_seconds = common.load_splits(cfg, args.tfds_dir)
  mesh = sharding.data_mesh()
  tr = Trainer(cfg, splits, mesh)
  params = tr.init_params(jax.random.key(cfg.seed))
  state = {"params": params, "opt_state": tr.init_opt_state(params, cfg.train.learning_rate)}
  perm = tr.epoch_permutation(jax.random.key(1))
  used = tr.steps_per_epoch   # packed: the steps that hold rows (the rest are skipped)
  if tr.packed:
    used = int((np.asarray(perm["segments"]).reshape(used, -1) > 0).any(axis=1).sum())
  steps = min(args.steps, used // 2) or 1
  tables = tr.tables()
  with common.Timer() as compile_t:
    state, out = tr.train_steps(state, perm, 0, steps, tables)
    jax.block_until_ready(out)
  best = None
  if args.trace:
    jax.profiler.start_trace(args.trace, create_perfetto_trace=True)
  for r in range(args.repeats):
    start = steps * (1 + r) % max(used - steps, 1)
    with common.Timer() as t:
      state, out = tr.train_steps(state, perm, start, steps, tables)
      jax.block_until_ready(out)
    if best is None or t.seconds < best[0].seconds:
      best = (t, start)
  top_ops = None
  if args.trace:
    jax.profiler.stop_trace()
    sources = common.hlo_sources(tr.train_steps_hlo(state, perm, tables))
    top_ops = common.trace_top_ops(args.trace, steps * args.repeats, sources=sources)
  t, start = best
  b = tr.batch_size
  if tr.packed:   # perm holds the epoch's packed rows; count their windows and examples
    seg = np.asarray(perm["segments"])[start * b:(start + steps) * b]
    windows = np.unique(seg[seg > 0])
    examples = int(((seg[:, :-1] == seg[:, 1:]) & (seg[:, :-1] > 0)).sum())
  else:
    windows = np.asarray(perm)[start * b:(start + steps) * b]
    windows = windows[windows < splits.num_windows]
    examples = examples_in(splits, windows)
  epoch_s = used / (steps / t.seconds)   # packed: steps past the last row are skipped
  return common.emit({
      "benchmark": "train_throughput",
      **common.device_info(),
      "mesh": sharding.describe(mesh),
      "config": args.config, "overrides": args.set,
      "dataset": cfg.data.name, **common.model_info(cfg),
      "train_targets": splits.train_targets,
      "num_windows": splits.num_windows, "num_items": splits.num_items,
      "train_examples": splits.num_train_examples,
      "batch_size": b, "packed": tr.packed, "steps_per_epoch": int(used),
      "timed_steps": steps,
      "seconds": common.fmt(t.seconds), "cpu_seconds": common.fmt(t.cpu_seconds),
      "first_call_seconds_incl_compile": common.fmt(compile_t.seconds),
      "steps_per_s": common.fmt(steps / t.seconds),
      "windows_per_s": common.fmt(len(windows) / t.seconds),
      "examples_per_s": common.fmt(examples / t.seconds),
      "epoch_seconds_estimate": common.fmt(epoch_s),
      "data_seconds": common.fmt(data_seconds),
      "peak_rss_mb": common.peak_rss_mb(),
      **({"top_ops_per_step": top_ops} if top_ops is not None else {}),
  })


if __name__ == "__main__":
  _define_flags()
  common.run(main)
