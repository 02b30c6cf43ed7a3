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


def test_authors_preset_towers_have_no_positions_and_their_init():
  from idw_jax import config as config_lib
  cfg = config_lib.finalize(config_lib.get_config_for({}, "mur,authors_code"))
  assert (cfg.model.encoder, cfg.model.interest_pool, cfg.model.item_tower) == ("tfrs",
                                                                                "scaled", "tfrs")
  user, item = models.make_towers(cfg.model, num_items=30, max_len=10)
  params = models.init_params(jax.random.key(0), user, item)
  assert "pos_embed" not in params["user"] and "ln_out" not in params["user"]
  for table in (params["user"]["item_embed"]["embedding"], params["item"]["layer0"]["embedding"]):
    table = np.abs(np.asarray(table))
    assert table.max() <= 0.1 and table.max() > 0.05       # U(-0.1, 0.1), as their code sets
  assert np.abs(np.asarray(params["user"]["interests"]["queries"])).max() <= 0.05
  assert float(params["user"]["interests"]["scale"]) == 1.0


def _np_tfrs_user(p, seq, at):
  """The authors' user tower in float64 numpy, written from their TF code: sqrt(d) x embedding,
  Dense, x + ELU(MHA(x, x)) with keys limited to the prefix <= at (both ways), then M queries
  with a learned scale pool the prefix."""
  f = lambda a: np.asarray(a, np.float64)  # noqa: E731
  d = p["item_embed"]["embedding"].shape[1]
  x = f(p["item_embed"]["embedding"])[seq] * np.sqrt(d)
  x = x @ f(p["input_proj"]["kernel"]) + f(p["input_proj"]["bias"])
  a = p["block0"]["attn"]
  proj = lambda v, name: np.einsum("td,dhk->thk", v, f(a[name]["kernel"])) + f(a[name]["bias"])  # noqa: E731
  out = []
  for b in range(seq.shape[0]):
    xb = x[b]
    q, k, v = proj(xb, "query"), proj(xb, "key"), proj(xb, "value")
    logits = np.einsum("thk,shk->hts", q / np.sqrt(q.shape[-1]), k)
    logits[:, :, at[b] + 1:] = -np.inf
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    o = np.einsum("hts,shk->thk", w, v)
    o = np.einsum("thk,hkd->td", o, f(a["out"]["kernel"])) + f(a["out"]["bias"])
    h = xb + np.where(o > 0, o, np.expm1(o))                        # x + ELU(MHA(x))
    h = h[:at[b] + 1]
    qs = f(p["interests"]["queries"]) * float(p["interests"]["scale"])
    alpha = np.exp(qs @ h.T)
    alpha /= alpha.sum(-1, keepdims=True)
    out.append(alpha @ h)
  return np.stack(out)


@pytest.mark.parametrize("num_heads", [1, 2])   # 1: the 2-D softmax (models.attention_rows)
def test_tfrs_user_tower_against_numpy(num_heads):
  user = models.UserTower(num_items=20, max_len=8, embed_dim=4, num_layers=1, num_heads=num_heads,
                          num_interests=3, positions=False, embed_init="uniform_0.1",
                          encoder="tfrs", interest_pool="scaled")
  params = user.init(jax.random.key(2), jnp.zeros((1, 8), jnp.int32))["params"]
  # Queries of U(-0.05, 0.05) pool almost uniformly; make them sharp to test the softmax.
  params["interests"]["queries"] = params["interests"]["queries"] * 40.0
  params["interests"]["scale"] = jnp.float32(1.7)
  seq = np.array([[3, 7, 1, 19, 4, 11, 0, 0], [5, 2, 2, 8, 6, 0, 0, 0]], np.int32)
  at = np.array([5, 2], np.int32)
  z = np.asarray(user.apply({"params": params}, jnp.asarray(seq), at=jnp.asarray(at)))
  np.testing.assert_allclose(z, _np_tfrs_user(params, seq, at), rtol=2e-5, atol=2e-6)
  # Both ways within the prefix: an item changes the representation of every prefix that
  # holds it; an item past the prefix changes nothing.
  other = seq.copy()
  other[1, 4] = 9                                                    # past at = 2 for row 1
  z2 = np.asarray(user.apply({"params": params}, jnp.asarray(other), at=jnp.asarray(at)))
  np.testing.assert_array_equal(z[1], z2[1])


def test_attention_rows_is_dot_product_attention():
  """The 2-D-softmax attention equals Flax's, masked keys included, for 1 and 3 heads."""
  import flax.linen as nn
  ks = jax.random.split(jax.random.key(4), 3)
  for heads in (1, 3):
    q, k, v = (jax.random.normal(key, (5, 7, heads, 4)) for key in ks)
    mask = (jnp.arange(7)[None, :] <= jnp.array([0, 2, 6, 3, 1])[:, None])[:, None, None, :]
    np.testing.assert_allclose(models.attention_rows(q, k, v, mask=mask),
                               nn.dot_product_attention(q, k, v, mask=mask),
                               rtol=1e-6, atol=1e-6)


def test_tfrs_item_tower_against_numpy():
  item = models.ItemTower(num_items=5, mlp_dims=(4, 4), embed_init="uniform_0.1", kind="tfrs")
  p = item.init(jax.random.key(0), jnp.zeros((1,), jnp.int32))["params"]
  assert "layer0_bias" not in p
  e = np.asarray(p["layer0"]["embedding"], np.float64) * 2.0        # sqrt(4) x embedding
  want = e @ np.asarray(p["layer1"]["kernel"]) + np.asarray(p["layer1"]["bias"])
  np.testing.assert_allclose(item.apply({"params": p}, jnp.arange(6)), want, rtol=1e-5, atol=1e-6)


def test_tfrs_encoder_needs_one_target_per_window():
  from idw_jax import config as config_lib
  c = config_lib.get_config_for({}, "mur,authors_code")
  c.data.protocol.train_targets = "every_prefix"
  with pytest.raises(ValueError, match="config.model.encoder"):
    config_lib.finalize(c)
