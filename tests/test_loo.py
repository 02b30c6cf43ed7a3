"""SASRec's leave-one-out protocol: the split, its negatives, both full rankings, an ML-1M run."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from idw_jax import config as config_lib
from idw_jax import metrics
from idw_jax.data import protocol
from idw_jax.data.types import UserSequences
from idw_jax.train import Trainer
from tests.conftest_data import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]

# Hand-made users (items 1..150 so the sampled protocol exists): 8, 3, 2 and 10 items.
USERS = [[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11], [12, 13], [1, 3, 5, 7, 9, 11, 13, 15, 2, 4]]


def _splits(users=USERS, max_len=4, **kw):
  seqs = UserSequences.from_lists(users, num_items=150)
  return protocol.build_splits(seqs, max_len=max_len, split="leave_one_out",
                               num_negatives=kw.pop("num_negatives", 100), **kw)


def test_the_split_of_each_hand_made_user():
  s = _splits()
  # Training windows (max_len 4): each user's training part (all but its last two items; all
  # of them under 3 items) cut from its end, consecutive windows sharing an item.
  rows = [list(w[:n]) for w, n in zip(s.windows, s.lengths)]
  assert rows == [[1, 2, 3], [3, 4, 5, 6],          # user 0: training part 1..6
                  [12, 13],                         # user 2: 2 items, trains on both
                  [1, 3], [3, 5, 7, 9], [9, 11, 13, 15]]   # user 3: training part of 8
  assert list(s.window_user) == [0, 0, 2, 3, 3, 3]  # user 1's training part is one item
  # Every training item but a user's first is a target once: positions 1..n-1 of each window.
  targets = [2, 3, 4, 5, 6, 13, 3, 5, 7, 9, 11, 13, 15]
  assert np.array_equal(s.train_counts, np.bincount(targets, minlength=151))
  assert s.held_out == 0 and s.report["users_not_evaluated"] == 1
  valid, test = s.queries("valid"), s.queries("test")
  assert list(valid.user) == list(test.user) == [0, 1, 3]         # user 2 is not evaluated
  assert list(valid.targets) == [7, 10, 2] and list(test.targets) == [8, 11, 4]
  # The rows: the last max_len - 1 = 3 items before the target, then the target.
  assert valid.windows.tolist() == [[4, 5, 6, 7], [9, 10, 0, 0], [11, 13, 15, 2]]
  assert test.windows.tolist() == [[5, 6, 7, 8], [9, 10, 11, 0], [13, 15, 2, 4]]
  assert list(valid.positions) == [2, 0, 2] and list(test.positions) == [2, 1, 2]
  assert np.array_equal(s.eval_targets("test"), test.targets)
  # History: every item before the target (validation: the training part; test: + valid).
  def history(q):
    off, items = q.history
    return [list(items[off[i]:off[i + 1]]) for i in range(q.size)]
  assert history(valid) == [[1, 2, 3, 4, 5, 6], [9], [1, 3, 5, 7, 9, 11, 13, 15]]
  assert history(test) == [[1, 2, 3, 4, 5, 6, 7], [9, 10], [1, 3, 5, 7, 9, 11, 13, 15, 2]]


@pytest.mark.parametrize("max_len", [4, 5, 9, 30])
def test_every_training_item_but_the_first_is_a_target_once(max_len):
  rng = np.random.default_rng(max_len)
  users = [rng.permutation(np.arange(1, 151))[:rng.integers(1, 60)] for _ in range(40)]
  s = _splits(users, max_len=max_len, num_negatives=0)
  assert s.max_len <= max_len and s.lengths.max() <= max_len and s.lengths.min() >= 2
  for u, seq in enumerate(users):
    train = seq if len(seq) < 3 else seq[:-2]
    mine = [w[1:n] for w, n, wu in zip(s.windows, s.lengths, s.window_user) if wu == u]
    got = np.concatenate(mine) if mine else np.zeros(0, int)
    assert sorted(got) == sorted(train[1:])
    for split, offset in (("valid", 2), ("test", 1)):
      q = s.queries(split)
      i = np.flatnonzero(q.user == u)
      if len(seq) < 3:
        assert i.size == 0
        continue
      (i,) = i
      t = len(seq) - offset
      before = seq[max(t - (s.max_len - 1), 0):t]
      assert q.targets[i] == seq[t] and q.positions[i] == len(before) - 1
      assert list(q.windows[i][:len(before) + 1]) == [*before, seq[t]]
      assert not q.windows[i][len(before) + 1:].any()


def test_negatives_are_100_items_the_user_never_had_and_reproducible():
  rng = np.random.default_rng(0)
  users = [rng.permutation(np.arange(1, 151))[:rng.integers(3, 48)] for _ in range(300)]
  s = _splits(users, seed=7)
  assert s.negatives.shape == (300, 100)
  for u, seq in enumerate(users):
    negs = s.negatives[u]
    assert len(set(negs)) == 100 and not set(negs) & set(seq)
    assert negs.min() >= 1 and negs.max() <= 150
  assert np.array_equal(_splits(users, seed=7).negatives, s.negatives)      # data.seed fixes them
  assert not np.array_equal(_splits(users, seed=8).negatives, s.negatives)
  # Uniform over the items a user never had: with 102+ allowed items of 150 each is picked
  # with probability 100 / allowed; the counts of all items match that within 5 sd.
  allowed = [np.setdiff1d(np.arange(1, 151), seq) for seq in users]
  expected = np.zeros(151)
  for a in allowed:
    expected[a] += 100 / a.size
  counts = np.bincount(s.negatives.ravel(), minlength=151)
  assert np.all(np.abs(counts[1:] - expected[1:]) < 5 * np.sqrt(expected[1:]) + 1)


def _dot(z, v):
  """Score z[b, 1, d] . v[c, d] -> [b, c] (exact on small integers)."""
  return jnp.einsum("bmd,cd->bc", z, v)


def test_both_full_rankings_of_a_hand_made_score_matrix():
  # 6 items with scores 5, 4, 3, 3, 2, 1 for query 0 (one dimension, z = 1); query 1: z = -1
  # reverses them. Query 0's target is item 3 (score 3): items 1, 2 score above it and item 4
  # ties (ties count against the target), rank 3. Its history {1, 4, 3}: without items 1 and
  # 4 (3 is its own target and stays) only item 2 is above: rank 1. Query 1's target item 6
  # (score -1, the highest): rank 0 either way; its history lists item 5, which scores below.
  emb = jnp.array([[0.], [5.], [4.], [3.], [3.], [2.], [1.]])
  z = jnp.array([[[1.]], [[-1.]]])
  targets = np.array([3, 6])
  history = (np.array([0, 3, 4]), np.array([1, 4, 3, 5]))
  kw = {"block_q": 1, "block_items": 4}       # several query and item blocks
  assert list(metrics.full_corpus_ranks(z, emb, targets, _dot, **kw)) == [3, 0]
  assert list(metrics.full_corpus_ranks(z, emb, targets, _dot, exclude=history, **kw)) == [1, 0]
  # The two-pass fallback (used where a backend's tile scores are not bitwise stable) agrees.
  n = 6
  blocks = jnp.pad(emb[1:], ((0, 2), (0, 0))).reshape(2, 4, 1)
  assert list(metrics._two_pass_ranks(_dot, z, blocks, targets, n, 1, history)) == [1, 0]


@pytest.mark.parametrize("block_q,block_items", [(512, 1024), (3, 7), (8, 16)])
def test_ranking_without_history_against_numpy(block_q, block_items):
  rng = np.random.default_rng(block_q)
  q, n, d = 37, 53, 3
  emb = np.concatenate([np.zeros((1, d)), rng.integers(-3, 4, (n, d))]).astype(np.float32)
  z = rng.integers(-3, 4, (q, 1, d)).astype(np.float32)      # integer scores: exact, with ties
  targets = rng.integers(1, n + 1, q)
  hist = [rng.choice(np.arange(1, n + 1), rng.integers(0, 20), replace=False) for _ in range(q)]
  off = np.concatenate([[0], np.cumsum([h.size for h in hist])])
  scores = z[:, 0].astype(np.float64) @ emb[1:].T.astype(np.float64)            # [q, n]
  want_full, want_excl = [], []
  for i in range(q):
    t = scores[i, targets[i] - 1]
    above = scores[i] >= t
    above[targets[i] - 1] = False
    want_full.append(above.sum())
    above[np.setdiff1d(hist[i], [targets[i]]) - 1] = False
    want_excl.append(above.sum())
  kw = {"block_q": block_q, "block_items": block_items}
  got = metrics.full_corpus_ranks(jnp.asarray(z), jnp.asarray(emb), targets, _dot, **kw)
  assert list(got) == want_full
  got = metrics.full_corpus_ranks(jnp.asarray(z), jnp.asarray(emb), targets, _dot,
                                  exclude=(off, np.concatenate(hist).astype(np.int32)), **kw)
  assert list(got) == want_excl


MESH_CHECK = """
import jax, jax.numpy as jnp, numpy as np
from idw_jax import metrics, sharding
rng = np.random.default_rng(0)
emb = jnp.asarray(rng.integers(-3, 4, (54, 3)).astype(np.float32))
z = jnp.asarray(rng.integers(-3, 4, (37, 1, 3)).astype(np.float32))
targets = rng.integers(1, 54, 37)
hist = [rng.choice(np.arange(1, 54), rng.integers(0, 20), replace=False) for _ in range(37)]
exclude = (np.concatenate([[0], np.cumsum([h.size for h in hist])]), np.concatenate(hist))
dot = lambda a, b: jnp.einsum("bmd,cd->bc", a, b)
kw = {"block_q": 4, "block_items": 16, "exclude": exclude}
one = metrics.full_corpus_ranks(z, emb, targets, dot, **kw)
three = metrics.full_corpus_ranks(z, emb, targets, dot, mesh=sharding.data_mesh(), **kw)
print(jax.device_count(), bool(np.array_equal(one, three)))
"""


@pytest.mark.slow
def test_ranking_without_history_on_a_mesh_is_the_one_device_ranking():
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=3"}
  proc = subprocess.run([sys.executable, "-c", MESH_CHECK], cwd=ROOT, env=env, check=False,
                        capture_output=True, text=True, timeout=300)
  assert proc.stdout.split()[-2:] == ["3", "True"], proc.stderr[-2000:]


def _loo_config(arg):
  spec = importlib.util.spec_from_file_location("ml1m_loo", ROOT / "configs/ml1m_loo.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def test_the_config_and_its_sasrec_settings():
  c = config_lib.finalize(_loo_config("sur,sasrec"))
  assert c.data.protocol.split == "leave_one_out" and c.data.protocol.min_count == 5
  assert c.data.protocol.num_negatives == 100 and c.data.protocol.max_len == 201
  assert (c.model.embed_dim, c.model.item_mlp_dims, c.model.num_layers, c.model.num_heads,
          c.model.dropout) == (50, (50, 50), 2, 1, 0.2)
  assert (c.train.learning_rate, c.train.batch_size) == (1e-3, 128)
  assert 10 in c.eval.ks and c.eval.early_stop_metric == "NDCG@10"
  paper = config_lib.finalize(_loo_config("mur_idw"))
  assert paper.data.protocol.max_len == 30 and paper.model.embed_dim == 16
  assert paper.model.dropout == 0.0 and paper.train.batch_size == 16     # TABLE's ml1m column
  with pytest.raises(ValueError, match="config arg 'sasrek'"):
    _loo_config("sur,sasrek")


def test_windows_split_evaluation_has_no_history_ranking():
  # The windows protocol keeps its results layout: "full" and "sampled" only.
  from idw_jax.data import pipeline
  from tests.tiny import tiny_config
  cfg = tiny_config("sur")
  splits = pipeline.make_splits(cfg.data, pipeline.load_sequences(cfg.data))
  tr = Trainer(cfg, splits)
  out = tr.evaluate(tr.init_params(jax.random.key(0)), "test", return_ranks=True)
  assert set(out) == {"full", "sampled", "ranks"} and set(out["ranks"]) == {"full", "sampled"}


@pytest.mark.slow
@pytest.mark.realdata
def test_tiny_ml1m_run_end_to_end(tmp_path):
  from idw_jax import driver
  root = shared_data_dir("ml-1m/ml-1m_user_sequences.txt.gz")
  cfg = _loo_config("sur,sasrec,tiny")
  config_lib.set_field(cfg, "data.root", str(root))
  r = driver.run(config_lib.finalize(cfg), tmp_path)
  assert json.loads((tmp_path / "results.json").read_text())["test"] == r["test"]
  assert r["config"]["data"]["protocol"]["split"] == "leave_one_out"
  assert r["data"]["users_kept"] == 100
  for split in ("test", "valid"):
    assert set(r[split]) == {"sampled", "full", "full_no_history"}
    for kind in ("sampled", "full", "full_no_history"):
      overall = r[split][kind]["overall"]
      assert overall["count"] == 100 and 0 <= overall["NDCG@10"] <= overall["HR@10"] <= 100
    # Leaving the history out only moves targets up.
    full, no_hist = r[split]["full"]["overall"], r[split]["full_no_history"]["overall"]
    assert all(no_hist[k] >= full[k] for k in ("HR@5", "HR@10", "HR@20"))
  ranks = np.load(tmp_path / "test_ranks.npz")
  assert set(ranks.files) == {"full", "full_no_history", "sampled"}
  assert np.all(ranks["full_no_history"] <= ranks["full"]) and ranks["sampled"].max() <= 100


@pytest.mark.slow
@pytest.mark.realdata
def test_eval_benchmark_counts_one_query_per_user():
  # benchmarks/eval.py times the test queries: under leave-one-out one per evaluated user (100
  # in the tiny variant), not one per training window, and the sampled ranking of each user.
  root = shared_data_dir("ml-1m/ml-1m_user_sequences.txt.gz")
  proc = subprocess.run(
      [sys.executable, "benchmarks/eval.py", "--config=configs/ml1m_loo.py:sur,sasrec,tiny",
       "--set", f"data.root={root}"], cwd=ROOT, capture_output=True, text=True, check=False,
      env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out["num_queries"] == 100 and out["num_windows"] > out["num_queries"]
  assert out["sampled_seconds"] > 0 and out["full_queries_timed"] == 100
