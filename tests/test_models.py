"""The causal user tower: every prefix of a window equals running the tower on that prefix."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from idw_jax import models


@pytest.mark.parametrize("num_interests", [1, 3])
def test_every_prefix_equals_tower_on_prefix_alone(num_interests):
  user = models.UserTower(num_items=20, max_len=8, embed_dim=8, num_layers=2, num_heads=2,
                          num_interests=num_interests)
  item = models.ItemTower(num_items=20, mlp_dims=(16, 8))
  params = models.init_params(jax.random.key(0), user, item)
  seq = jnp.array([[3, 7, 1, 19, 4, 11, 0, 0], [5, 2, 2, 8, 0, 0, 0, 0]], jnp.int32)
  apply = jax.jit(lambda s: user.apply({"params": params["user"]}, s))
  full = apply(seq)
  assert full.shape == (2, 8, num_interests, 8)
  for t in range(1, 7):
    alone = apply(seq[:, :t])
    np.testing.assert_allclose(full[:, :t], alone, rtol=1e-5, atol=1e-6)
  # Asking for one prefix per row (`at`) gives that prefix's representation.
  at = jnp.array([5, 2], jnp.int32)
  one = jax.jit(lambda s, a: user.apply({"params": params["user"]}, s, at=a))(seq, at)
  assert one.shape == (2, num_interests, 8)
  np.testing.assert_allclose(one, full[jnp.arange(2), at], rtol=1e-5, atol=1e-6)
  # Changing a later item never changes an earlier prefix's representation.
  changed = apply(seq.at[:, 5].set(9))
  np.testing.assert_array_equal(full[:, :5], changed[:, :5])
  assert not np.allclose(full[0, 5], changed[0, 5])


def test_parametric_attention_against_numpy():
  h = np.random.default_rng(0).normal(size=(1, 4, 3)).astype(np.float32)
  pa = models.ParametricAttention(num_interests=2)
  params = pa.init(jax.random.key(1), h)
  z = np.asarray(pa.apply(params, h))
  q = np.asarray(params["params"]["queries"], np.float64)
  for t in range(4):
    for m in range(2):
      a = np.exp(h[0, :t + 1] @ q[m])
      a /= a.sum()
      np.testing.assert_allclose(z[0, t, m], a @ h[0, :t + 1], rtol=1e-5, atol=1e-6)


def test_item_tower_is_mlp_on_one_hot():
  item = models.ItemTower(num_items=5, mlp_dims=(4, 3))
  p = item.init(jax.random.key(0), jnp.zeros((1,), jnp.int32))["params"]
  one_hot = np.eye(6)
  h = np.maximum(one_hot @ np.asarray(p["layer0"]["embedding"]) + np.asarray(p["layer0_bias"]), 0)
  want = h @ np.asarray(p["layer1"]["kernel"]) + np.asarray(p["layer1"]["bias"])
  np.testing.assert_allclose(item.apply({"params": p}, jnp.arange(6)), want, rtol=1e-5, atol=1e-6)


def test_authors_preset_towers_have_no_positions_and_keras_init():
  from idw_jax import config as config_lib
  cfg = config_lib.finalize(config_lib.get_config_for({}, "mur,authors_code"))
  user, item = models.make_towers(cfg.model, num_items=30, max_len=10)
  params = models.init_params(jax.random.key(0), user, item)
  assert "pos_embed" not in params["user"]
  for table in (params["user"]["item_embed"]["embedding"], params["item"]["layer0"]["embedding"]):
    assert np.abs(np.asarray(table)).max() <= 0.05
