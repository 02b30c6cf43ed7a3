"""model.dropout: training only, one key per step from the run's key (exact resume), 0.0 = none."""

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
from idw_jax import models
from idw_jax.data import pipeline
from idw_jax.train import Trainer
from tests.tiny import TINY_OVERRIDES, tiny_config

ROOT = Path(__file__).resolve().parents[1]


def _tower(dropout, encoder="pre_ln", heads=4):
  return models.UserTower(num_items=20, max_len=8, embed_dim=8, num_heads=heads,
                          num_interests=2, dropout=dropout, encoder=encoder,
                          positions=encoder == "pre_ln")


@pytest.mark.parametrize("encoder,heads", [("pre_ln", 4), ("pre_ln", 1), ("tfrs", 1),
                                           ("tfrs", 2)])
def test_dropout_acts_in_training_only(encoder, heads):
  seq = jnp.array([[1, 2, 3, 4, 5, 0, 0, 0], [6, 7, 8, 9, 10, 11, 12, 13]])
  off, on = _tower(0.0, encoder, heads), _tower(0.3, encoder, heads)
  params = off.init(jax.random.key(0), seq)["params"]
  assert jax.tree.structure(params) == jax.tree.structure(on.init(jax.random.key(0), seq)["params"])
  ref = off.apply({"params": params}, seq)
  # Evaluation (deterministic, the default) is the model without dropout, bit for bit; so is
  # training at rate 0.
  np.testing.assert_array_equal(on.apply({"params": params}, seq), ref)
  keys = [{"dropout": jax.random.key(k)} for k in (1, 1, 2)]
  np.testing.assert_array_equal(
      off.apply({"params": params}, seq, deterministic=False, rngs=keys[0]), ref)
  a, b, c = (on.apply({"params": params}, seq, deterministic=False, rngs=k) for k in keys)
  np.testing.assert_array_equal(a, b)                      # the same key, the same masks
  assert not np.allclose(a, ref) and not np.allclose(a, c)


def test_attention_rows_drops_weights_as_dot_product_attention_would():
  rng = np.random.default_rng(0)
  q, k, v = (jnp.asarray(rng.normal(size=(2, 5, 1, 4)), jnp.float32) for _ in range(3))
  mask = jnp.tril(jnp.ones((5, 5), bool))[None, None]
  key = jax.random.key(3)
  got = models.attention_rows(q, k, v, mask, dropout_rng=key, dropout_rate=0.25,
                              deterministic=False)
  logits = np.einsum("bqhd,bkhd->bhqk", np.asarray(q, np.float64) / 2.0, np.asarray(k))
  logits = np.where(np.asarray(mask), logits, -np.inf)
  w = np.exp(logits - logits.max(-1, keepdims=True))
  w /= w.sum(-1, keepdims=True)
  keep = np.asarray(jax.random.bernoulli(key, 0.75, w.shape))
  want = np.einsum("bhqk,bkhd->bqhd", np.where(keep, w / 0.75, 0.0), np.asarray(v))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(models.attention_rows(q, k, v, mask, dropout_rng=key,
                                                      dropout_rate=0.25),
                                models.attention_rows(q, k, v, mask))   # deterministic


def _trainer(**fields):
  cfg = tiny_config("sur", **fields)
  return Trainer(cfg, pipeline.make_splits(cfg.data, pipeline.load_sequences(cfg.data)))


def _steps(tr, calls, dropout=None):
  """Params after the epoch's first steps, run as `calls` = [steps per jitted call]."""
  params = tr.init_params(jax.random.key(0))
  state = {"params": params, "opt_state": tr.init_opt_state(params, 0.01)}
  perm = tr.epoch_permutation(jax.random.key(1))
  done = 0
  for n in calls:
    state, _ = tr.train_steps(state, perm, done, n, tr.tables(), phase_step=done,
                              dropout=dropout)
    done += n
  return jax.tree.map(np.asarray, state["params"])


def test_a_step_draws_its_masks_from_its_index_so_calls_can_split_anywhere():
  tr = _trainer(**{"model.dropout": 0.2})
  one = _steps(tr, [4])
  jax.tree.map(np.testing.assert_array_equal, one, _steps(tr, [1, 3]))
  jax.tree.map(np.testing.assert_array_equal, one, _steps(tr, [2, 1, 1]))
  other = _steps(tr, [4], tr.dropout_key(jax.random.key(5), 0))     # another run's key
  assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(one),
                                                      jax.tree.leaves(other)))
  plain = _trainer()                                      # dropout 0: no key, no masks
  assert plain.dropout_key(jax.random.key(5), 0) is None
  without = _steps(plain, [4])
  assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(one),
                                                      jax.tree.leaves(without)))


def test_old_configs_without_dropout_read_as_zero_and_stay_cached():
  cfg = tiny_config("mur_idw").to_dict()
  assert cfg["model"]["dropout"] == 0.0
  old = json.loads(json.dumps(cfg))
  del old["model"]["dropout"]                              # a record from before the field
  assert config_lib.backfill(old) == json.loads(json.dumps(cfg))
  assert config_lib.backfill(json.loads(json.dumps(cfg)))["model"]["dropout"] == 0.0
  with pytest.raises(ValueError, match="config.model.dropout: must be in"):
    tiny_config("sur", **{"model.dropout": 1.0})


def _launch(workdir, *extra, check=True):
  cmd = [sys.executable, str(ROOT / "launch.py"), f"--workdir={workdir}",
         "--config=" + str(ROOT / "configs/synthetic.py") + ":mur", *TINY_OVERRIDES,
         "--config.checkpoint.every_steps=5", "--config.model.dropout=0.2", *extra]
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False,
                        env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=600)
  if check and proc.returncode != 0:
    raise AssertionError(f"launch failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
  return proc


def _numbers(workdir):
  r = json.loads((Path(workdir) / "results.json").read_text())
  return r, {"test": r["test"], "valid": r["valid"],
             "history": [{k: v for k, v in h.items() if k not in ("seconds", "timing")}
                         for h in r["history"]]}


@pytest.mark.slow
def test_killed_mid_epoch_with_dropout_resumes_to_identical_metrics(tmp_path):
  _launch(tmp_path / "ref")
  r, want = _numbers(tmp_path / "ref")
  assert r["config"]["model"]["dropout"] == 0.2
  # The last mid-epoch save of pretraining: its second epoch, steps into it.
  k = [s[0] for s in r["save_log"] if s[1] == "mid_epoch" and s[2] == "pretrain"][-1]
  assert k > next(s[0] for s in r["save_log"] if s[1] == "epoch_end")
  proc = _launch(tmp_path / "run", f"--config.debug.exit_after_save={k}", check=False)
  assert proc.returncode == 42, proc.stderr[-2000:]
  proc = _launch(tmp_path / "run")
  assert "resuming" in proc.stdout
  assert _numbers(tmp_path / "run")[1] == want
