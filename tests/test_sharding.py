"""Data parallelism on several devices of one CPU (--xla_force_host_platform_device_count).

The flag must be set before jax is imported, so the multi-device checks run in a subprocess:
this file run as a script (`python tests/test_sharding.py worker`) trains and evaluates a tiny
synthetic config on 1 device and on a 4-device mesh and prints the figures as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
NUM_DEVICES = 4
STEPS = 4


def _env(num_devices: int) -> dict:
  env = dict(os.environ)
  env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                      f" --xla_force_host_platform_device_count={num_devices}").strip()
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
  return env


def _tiny_config(pack: bool = False):
  """400 users, 200 items (so the sampled protocol runs too), a small model.

  pack: short windows (mean length 6) trained as packed rows.
  """
  from idw_jax import config as config_lib
  c = config_lib.base_config()
  c.method = "mur"
  c.data.synthetic.num_users = 400
  c.data.synthetic.num_items = 200
  c.model.embed_dim = 8
  c.model.num_heads = 2
  c.model.num_layers = 1
  c.model.item_mlp_dims = (8, 8)
  c.train.batch_size = 32
  c.eval.block_users = 48     # several blocks per device, the last one padded
  c.eval.block_items = 37     # several item blocks, the last one padded
  if pack:
    c.train.pack_windows = True
    c.data.synthetic.mean_len = 6.0
  return config_lib.finalize(c)


def _worker() -> dict:
  """Same steps at the same global batch on 1 device and on a 4-device mesh."""
  import jax
  from jax.sharding import NamedSharding
  from idw_jax import compilation_cache
  from idw_jax import sharding
  compilation_cache.enable()        # as launch.py does: a second session compiles nothing
  from idw_jax.data import pipeline
  from idw_jax.train import Trainer

  assert jax.device_count() == NUM_DEVICES, jax.devices()
  cfg = _tiny_config()
  splits = pipeline.make_splits(cfg.data, pipeline.load_sequences(cfg.data))
  runs = {}
  # Packed rows of short windows (variable lengths, mean 6) on 1 and 4 devices too.
  packed_cfg = _tiny_config(pack=True)
  packed = pipeline.make_splits(packed_cfg.data, pipeline.load_sequences(packed_cfg.data))
  for name, mesh in (("one", None), ("mesh", sharding.data_mesh())):
    tr = Trainer(packed_cfg, packed, mesh)
    params = tr.init_params(jax.random.key(0))
    state = {"params": params, "opt_state": tr.init_opt_state(params, 0.01)}
    state, res = tr.train_steps(state, tr.epoch_permutation(jax.random.key(1)), 0, STEPS,
                                tr.tables())
    runs[name + "_packed"] = {"loss_sum": float(res["loss_sum"]), "steps": int(res["steps"]),
                              "packed": tr.packed,
                              "param_sum": float(sum(np.abs(np.asarray(x)).sum()
                                                     for x in jax.tree.leaves(state["params"])))}
  for name, mesh in (("one", None), ("mesh", sharding.data_mesh())):
    tr = Trainer(cfg, splits, mesh)
    params = tr.init_params(jax.random.key(0))
    state = {"params": params, "opt_state": tr.init_opt_state(params, 0.01)}
    perm = tr.epoch_permutation(jax.random.key(1))
    state, res = tr.train_steps(state, perm, 0, STEPS, tr.tables())
    ev = tr.evaluate(state["params"], "valid")
    z = tr.user_reps(state["params"], "test")
    leaves = jax.tree.leaves(state["params"])
    runs[name] = {
        "loss_sum": float(res["loss_sum"]), "steps": int(res["steps"]),
        "full": ev["full"]["overall"],
        "sampled": ev["sampled"]["overall"],
        "z_sum": float(np.abs(np.asarray(z)).sum()), "z_rows": int(z.shape[0]),
        "replicated": all(isinstance(x.sharding, NamedSharding) and
                          x.sharding.is_fully_replicated for x in leaves) if mesh else None,
        "param_devices": sorted({len(x.devices()) for x in leaves}),
    }
    if mesh is not None:
      hlo = tr.train_steps_hlo(state, perm, tr.tables())
      runs[name]["all_reduce"] = "all-reduce" in hlo
      runs[name]["mesh"] = sharding.describe(mesh)
  out = {"runs": runs}
  # full_corpus_ranks split over the mesh against a float64 brute force.
  from idw_jax import affinity, metrics
  rng = np.random.default_rng(0)
  z = rng.normal(size=(37, 3, 8)).astype(np.float32)
  emb = rng.normal(size=(104, 8)).astype(np.float32)
  targets = rng.integers(1, 104, size=37)
  ranks = metrics.full_corpus_ranks(z, emb, targets, affinity.mixture_affinity, block_q=5,
                                    block_items=16, mesh=sharding.data_mesh())
  out["full_corpus_ranks"] = np.asarray(ranks).tolist()
  return out


# The 4-device checks run in a subprocess (this file as a script) or launch.py: slow tests.
@pytest.fixture(scope="module")
def worker_result():
  proc = subprocess.run([sys.executable, __file__, "worker"], env=_env(NUM_DEVICES), cwd=REPO,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-4000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow      # the worker subprocess
def test_mesh_matches_one_device(worker_result):
  one, mesh = worker_result["runs"]["one"], worker_result["runs"]["mesh"]
  assert mesh["mesh"] == {"data": NUM_DEVICES}
  assert mesh["replicated"] and mesh["param_devices"] == [NUM_DEVICES]
  assert one["param_devices"] == [1]
  assert mesh["all_reduce"], "the train step should all-reduce gradients across devices"
  assert one["steps"] == mesh["steps"] == STEPS
  np.testing.assert_allclose(mesh["loss_sum"], one["loss_sum"], rtol=1e-5)
  np.testing.assert_allclose(mesh["z_sum"], one["z_sum"], rtol=1e-5)
  assert mesh["z_rows"] == one["z_rows"]
  for kind in ("full", "sampled"):
    for k, v in one[kind].items():
      np.testing.assert_allclose(mesh[kind][k], v, rtol=1e-5, err_msg=f"{kind} {k}")


@pytest.mark.slow      # the worker subprocess
def test_packed_training_on_mesh_matches_one_device(worker_result):
  one, mesh = worker_result["runs"]["one_packed"], worker_result["runs"]["mesh_packed"]
  assert one["packed"] and mesh["packed"]
  assert one["steps"] == mesh["steps"] == STEPS
  np.testing.assert_allclose(mesh["loss_sum"], one["loss_sum"], rtol=1e-5)
  np.testing.assert_allclose(mesh["param_sum"], one["param_sum"], rtol=1e-5)


@pytest.mark.slow      # the worker subprocess
def test_full_corpus_ranks_on_mesh(worker_result):
  from tests.test_metrics import brute_force_ranks
  rng = np.random.default_rng(0)
  z = rng.normal(size=(37, 3, 8)).astype(np.float32)
  emb = rng.normal(size=(104, 8)).astype(np.float32)
  targets = rng.integers(1, 104, size=37)
  np.testing.assert_array_equal(worker_result["full_corpus_ranks"],
                                brute_force_ranks(z, emb, targets, "mixture"))


def test_full_corpus_ranks_fallback():
  """A score whose tile values depend on the column fails the one-pass check: two-pass redo."""
  import jax.numpy as jnp
  from idw_jax import affinity, metrics
  rng = np.random.default_rng(2)
  q, n, d, c = 13, 40, 4, 16
  z = rng.normal(size=(q, 1, d)).astype(np.float32)
  emb = rng.normal(size=(n + 1, d)).astype(np.float32)
  targets = rng.integers(1, n + 1, size=q)

  def column_score(zz, v):
    return affinity.max_affinity(zz, v) + 0.5 * jnp.arange(v.shape[0], dtype=jnp.float32)

  # nb = 3 item blocks of c = 14 (40 items): item i (0-based) sits at column i % 14.
  ranks = metrics.full_corpus_ranks(z, emb, targets, column_score, block_q=4, block_items=c)
  s = np.einsum("qd,nd->qn", z[:, 0].astype(np.float64), emb[1:].astype(np.float64))
  s = s + 0.5 * (np.arange(n) % 14)
  t = s[np.arange(q), targets - 1]
  beats = ~(s < t[:, None])
  beats[np.arange(q), targets - 1] = False
  np.testing.assert_array_equal(ranks, beats.sum(1))


@pytest.mark.slow      # launch.py on 4 devices, a whole run
def test_launch_on_four_devices(tmp_path):
  """A tiny MUR-IDW run (pretrain, a sleep, calibration) via launch.py on 4 devices."""
  workdir = tmp_path / "run"
  flags = ["--config=configs/synthetic.py:mur_idw", f"--workdir={workdir}",
           "--config.data.synthetic.num_users=300", "--config.train.batch_size=32",
           "--config.train.max_epochs=1", "--config.idw.max_iterations=0",
           "--config.idw.calibration_max_epochs=1", "--config.model.embed_dim=8",
           "--config.model.num_heads=2", "--config.model.num_layers=1",
           "--config.model.item_mlp_dims=(8, 8)"]
  proc = subprocess.run([sys.executable, "launch.py", *flags], env=_env(NUM_DEVICES), cwd=REPO,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-4000:]
  results = json.loads((workdir / "results.json").read_text())
  assert results["device"]["count"] == NUM_DEVICES
  assert results["device"]["mesh"] == {"data": NUM_DEVICES}
  assert results["test"]["full"]["overall"]["count"] > 0


if __name__ == "__main__":
  if sys.argv[1:] == ["worker"]:
    sys.path.insert(0, str(REPO))
    print(json.dumps(_worker()))
