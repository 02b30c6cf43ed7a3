"""Evaluation throughput of a config (queries/s); prints one JSON line.

  python benchmarks/eval.py --config=configs/ml1m.py:mur_idw
  python benchmarks/eval.py --config=configs/synthetic.py --set eval.block_users=512

With a config it times, on freshly initialised parameters (the cost does not depend on the
values): the user representations of every test query (`Trainer.user_reps`: a window, or a
leave-one-out user), the sampled ranking (1 + 99, or 1 + 100 under leave-one-out) and the
full-corpus ranking (`metrics.full_corpus_ranks`), each warm (a first call compiles).
`--queries Q --items N` instead times `full_corpus_ranks` alone on random representations
(e.g. Kindle scale: --queries 140000 --items 99000); `--fraction f` times a fraction f of the
queries and extrapolates linearly (for sizes that take long on a CPU).

Flags (absl, `--help` lists them):
  --config, --set   config file[:method[,preset]] and KEY=VALUE overrides (benchmarks/common.py)
  --queries, --items, --fraction   the random sizes above
  --tfds_dir         read real data through TFDS here (also --tfds-dir)
"""

from __future__ import annotations

import jax
import numpy as np
from absl import flags

import common  # pylint: disable=g-bad-import-order
from idw_jax import affinity
from idw_jax import metrics
from idw_jax import sharding
from idw_jax.train import Trainer


def _full_corpus(z, item_emb, targets, score_fn, cfg, mesh):
  """(warm seconds, cpu seconds) of full_corpus_ranks; the first call compiles."""
  kwargs = dict(block_q=cfg.eval.block_users, block_items=cfg.eval.block_items, mesh=mesh)
  with common.Timer() as first:
    metrics.full_corpus_ranks(z, item_emb, targets, score_fn, **kwargs).block_until_ready()
  with common.Timer() as t:
    metrics.full_corpus_ranks(z, item_emb, targets, score_fn, **kwargs).block_until_ready()
  return t, first


def synthetic_sizes(args, cfg, mesh) -> dict:
  """full_corpus_ranks on random z[Q, M, d] and items[N + 1, d]."""
  rng = np.random.default_rng(0)
  m, d = cfg.model.num_interests, cfg.model.embed_dim
  q = max(1, int(round(args.queries * args.fraction)))
  z = rng.normal(size=(q, m, d)).astype(np.float32) * 0.3
  item_emb = rng.normal(size=(args.items + 1, d)).astype(np.float32) * 0.3
  targets = rng.integers(1, args.items + 1, size=q)
  score_fn = {"mixture": affinity.mixture_affinity, "max": affinity.max_affinity}[
      cfg.model.affinity]
  t, first = _full_corpus(z, item_emb, targets, score_fn, cfg, mesh)
  return {"queries_total": args.queries, "queries_timed": q, "num_items": args.items,
          "full_seconds": common.fmt(t.seconds), "full_cpu_seconds": common.fmt(t.cpu_seconds),
          "full_first_call_seconds": common.fmt(first.seconds),
          "full_queries_per_s": common.fmt(q / t.seconds),
          "full_pairs_per_s": common.fmt(q * args.items / t.seconds),
          "full_seconds_all_queries_estimate": common.fmt(t.seconds * args.queries / q)}


def config_sizes(args, cfg, mesh) -> dict:
  """user_reps, sampled and full-corpus ranking of the config's dataset (test queries)."""
  splits, data_seconds = common.load_splits(cfg, args.tfds_dir)
  tr = Trainer(cfg, splits, mesh)
  params = tr.init_params(jax.random.key(cfg.seed))
  tr.user_reps(params, "test").block_until_ready()
  with common.Timer() as t:
    z = tr.user_reps(params, "test").block_until_ready()
  # The queries are the test examples: one per window under the paper's split, one per user
  # under leave-one-out (where the windows are training windows and outnumber the queries).
  w = int(z.shape[0])
  out = {"num_windows": splits.num_windows, "num_queries": w, "num_items": splits.num_items,
         "data_seconds": common.fmt(data_seconds)}
  out.update(user_reps_seconds=common.fmt(t.seconds),
             user_reps_queries_per_s=common.fmt(w / t.seconds))
  item_emb = tr.item_embeddings(params, training=False)
  queries = splits.queries("test")
  targets = queries.targets
  if splits.negatives is not None:
    tr._sampled_ranks(z, item_emb, targets, queries.user)  # pylint: disable=protected-access
    with common.Timer() as t:
      tr._sampled_ranks(z, item_emb, targets, queries.user)  # pylint: disable=protected-access
    out.update(sampled_seconds=common.fmt(t.seconds),
               sampled_queries_per_s=common.fmt(w / t.seconds))
  q = max(1, int(round(w * args.fraction)))
  score_fn = tr._score_fn  # pylint: disable=protected-access
  t, first = _full_corpus(z[:q], item_emb, targets[:q], score_fn, cfg, mesh)
  out.update(full_queries_timed=q, full_seconds=common.fmt(t.seconds),
             full_cpu_seconds=common.fmt(t.cpu_seconds),
             full_first_call_seconds=common.fmt(first.seconds),
             full_queries_per_s=common.fmt(q / t.seconds),
             full_seconds_all_queries_estimate=common.fmt(t.seconds * w / q))
  with common.Timer() as t:
    tr.evaluate(params, "test")
  out["evaluate_seconds"] = common.fmt(t.seconds)
  return out


def _define_flags():
  common.define_config_flags("configs/synthetic.py")
  flags.DEFINE_integer("queries", 0, "> 0: random sizes, no dataset.")
  flags.DEFINE_integer("items", 0, "Catalogue size of the random sizes (--queries > 0).")
  flags.DEFINE_float("fraction", 1.0, "Time this share of the queries.")
  flags.DEFINE_string("tfds_dir", None, "Read real data through TFDS here.")
  flags.DEFINE_alias("tfds-dir", "tfds_dir")


def main() -> dict:
  args = flags.FLAGS
  cfg = common.load_config(args.config, args.set)
  mesh = sharding.data_mesh()
  sizes = synthetic_sizes(args, cfg, mesh) if args.queries else config_sizes(args, cfg, mesh)
  return common.emit({
      "benchmark": "eval", **common.device_info(), "mesh": sharding.describe(mesh),
      "config": args.config, "overrides": args.set, "dataset": cfg.data.name,
      **common.model_info(cfg), "block_users": cfg.eval.block_users,
      "block_items": cfg.eval.block_items, **sizes, "peak_rss_mb": common.peak_rss_mb()})


if __name__ == "__main__":
  _define_flags()
  common.run(main)
