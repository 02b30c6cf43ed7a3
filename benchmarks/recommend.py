"""Top-K recommendation throughput (users/s) and latency; prints one JSON line.

  python benchmarks/recommend.py --workdir=results/ml1m/runs/mur-paper-seed0
  python benchmarks/recommend.py --items 376000 --users 1024          # no run needed

With --workdir (a finished run, read only): `Recommender.top_k` end to end (encode the raw
ids, user tower, exact blocked top-k over the whole catalogue, interest per item) for --users
random histories of a full window (max_len - 1 items drawn from the catalogue), in process
(`idw_jax.recommend.load_run`) and through the export (`idw_jax.export.write` to a temporary
folder, then `export.load`); plus the tower alone and one user at a time (latency).
Always: `export.blocked_top_k` alone on --items random item embeddings (d = --dim) and random
user representations (M = --interests), mixture affinity: users/s and one-user latency.
Every figure is warm (a first call compiles); `load_avg` is the 1-minute load average at the
end (the machine may be shared).

Flags (absl, `--help` lists them): --workdir, --users, --items, --dim, --interests, -k/--k,
--block_items, --block_users, --skip_synthetic.
"""

from __future__ import annotations

import functools
import os
import tempfile

import numpy as np
from absl import flags

import common  # pylint: disable=g-bad-import-order
from idw_jax import affinity
from idw_jax import export


def _timed(fn, repeats: int = 1) -> tuple[float, float]:
  """(best wall seconds, its cpu seconds) of fn() after one warm-up call."""
  fn()
  best = None
  for _ in range(repeats):
    with common.Timer() as t:
      fn()
    best = t if best is None or t.seconds < best.seconds else best
  return best.seconds, best.cpu_seconds


def run_figures(args) -> dict:
  from idw_jax import recommend  # pylint: disable=g-import-not-at-top
  with common.Timer() as t:
    rec = recommend.load_run(args.workdir)
  rng = np.random.default_rng(0)
  raw = rec.vocab.dense_to_raw
  hist = [" ".join(str(raw[i]) for i in rng.integers(1, rec.num_items + 1, rec.window))
          for _ in range(args.users)]
  out = {"workdir": args.workdir, "num_items": rec.num_items, "window": rec.window,
         "num_interests": rec.num_interests, "affinity": rec.facts["affinity"],
         "users": args.users, "load_run_seconds": common.fmt(t.seconds)}
  k, bi, bu = args.k, args.block_items, args.block_users
  with tempfile.TemporaryDirectory() as folder:
    export.write(rec, folder, platforms=("cpu",))
    loaded = export.load(folder)
    for name, r in (("inprocess", rec), ("export", loaded)):
      s, cpu = _timed(lambda r=r: r.top_k(hist, k, block_items=bi, block_users=bu))
      out[f"{name}_users_per_s"] = common.fmt(args.users / s)
      out[f"{name}_cpu_seconds_per_1k_users"] = common.fmt(cpu / args.users * 1000)
    s, _ = _timed(lambda: loaded.user_reps(hist))
    out["export_tower_only_users_per_s"] = common.fmt(args.users / s)
    s, _ = _timed(lambda: loaded.top_k(hist[:1], k, block_items=bi), repeats=5)
    out["export_one_user_latency_ms"] = common.fmt(s * 1000)
  return out


def synthetic_figures(args) -> dict:
  rng = np.random.default_rng(1)
  items = (rng.normal(size=(args.items + 1, args.dim)) * 0.3).astype(np.float32)
  z = (rng.normal(size=(args.users, args.interests, args.dim)) * 0.3).astype(np.float32)
  score = functools.partial(affinity.affinity, kind="mixture")
  kw = dict(block_items=args.block_items, block_users=args.block_users,
            ranker=export.make_ranker(score))
  s, cpu = _timed(lambda: export.blocked_top_k(z, items, args.k, score, **kw))
  one, _ = _timed(lambda: export.blocked_top_k(z[:1], items, args.k, score, **kw), repeats=3)
  return {"num_items": args.items, "dim": args.dim, "num_interests": args.interests,
          "users": args.users, "users_per_s": common.fmt(args.users / s),
          "cpu_seconds_per_1k_users": common.fmt(cpu / args.users * 1000),
          "pairs_per_s": common.fmt(args.users * args.items / s),
          "one_user_latency_ms": common.fmt(one * 1000)}


def _define_flags():
  flags.DEFINE_string("workdir", None, "A finished run (read only).")
  flags.DEFINE_integer("users", 1024, "Histories (users) per timed call.")
  flags.DEFINE_integer("items", 376_000, "Synthetic catalogue size.")
  flags.DEFINE_integer("dim", 16, "Synthetic embedding dimension d.")
  flags.DEFINE_integer("interests", 5, "Synthetic interests M.")
  flags.DEFINE_integer("k", 20, "Items per user.")
  flags.DEFINE_integer("block_items", 4096, "Items per block.")
  flags.DEFINE_integer("block_users", 256, "Users per block.")
  flags.DEFINE_bool("skip_synthetic", False, "Only the run's figures (--workdir).")


def main() -> dict:
  args = flags.FLAGS
  result = {"benchmark": "recommend", **common.device_info(), "k": args.k,
            "block_items": args.block_items, "block_users": args.block_users}
  if args.workdir:
    result["run"] = run_figures(args)
  if not args.skip_synthetic:
    result["synthetic"] = synthetic_figures(args)
  result["peak_rss_mb"] = common.peak_rss_mb()
  result["load_avg"] = round(os.getloadavg()[0], 2)
  return common.emit(result)


if __name__ == "__main__":
  _define_flags()
  common.run(main)
