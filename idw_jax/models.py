"""The two towers of Sec. 3.1 as Flax Linen modules (used through pure `init`/`apply`).

User tower: item embedding + learned positions, a causal pre-LN self-attention encoder, and
parametric attention with M learned global queries (Humeau et al.). Causal all the way down,
so one forward pass over a window yields the user representation of every prefix.
Item tower: a 2-layer MLP on the one-hot item id (the first layer is an embedding lookup).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class EncoderBlock(nn.Module):
  """Pre-LayerNorm causal self-attention block."""

  num_heads: int
  mlp_ratio: int = 4

  @nn.compact
  def __call__(self, x, mask):
    d = x.shape[-1]
    h = nn.LayerNorm(name="ln_attn")(x)
    h = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, name="attn")(h, h, mask=mask)
    x = x + h
    h = nn.LayerNorm(name="ln_mlp")(x)
    h = nn.Dense(self.mlp_ratio * d, name="mlp_in")(h)
    h = nn.Dense(d, name="mlp_out")(nn.gelu(h))
    return x + h


class ParametricAttention(nn.Module):
  """M learned queries pool the encoder outputs; causal: output t pools positions <= t.

  z[b, t, m] = sum_{i <= t} softmax_i(q_m . h[b, i]) h[b, i]   (Sec. 3.1)

  `at` (int32[B]) asks for one prefix per row, z[b, at[b]] -> [B, M, d], without pooling the
  others (training with one target per window, evaluation).
  """

  num_interests: int

  @nn.compact
  def __call__(self, h, segments=None, at=None):
    b, t, d = h.shape
    q = self.param("queries", nn.initializers.normal(stddev=d ** -0.5), (self.num_interests, d))
    logits = jnp.einsum("md,bid->bmi", q, h)                          # [B, M, T]
    if at is not None:            # only the prefix ending at position at[b]: z[b] is [M, d]
      visible = jnp.arange(t)[None, :] <= at[:, None]                 # [B, T]
      alpha = jax.nn.softmax(jnp.where(visible[:, None, :], logits, -jnp.inf), axis=-1)
      return jnp.einsum("bmi,bid->bmd", alpha, h)
    causal = jnp.tril(jnp.ones((t, t), bool))[None]                   # [1, t, i]
    if segments is not None:                                          # packed rows: own window
      causal = causal & (segments[:, :, None] == segments[:, None, :])
    logits = jnp.where(causal[:, :, None, :], logits[:, None, :, :], -jnp.inf)
    alpha = jax.nn.softmax(logits, axis=-1)                           # [B, T, M, T]
    return jnp.einsum("btmi,bid->btmd", alpha, h)


def embedding_init(kind: str):
  """"default": Flax's (normal, std 1); "keras_uniform": U(-0.05, 0.05) as Keras/TFRS."""
  if kind == "default":
    return nn.initializers.variance_scaling(1.0, "fan_in", "normal", out_axis=0)
  if kind == "keras_uniform":
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -0.05, 0.05)
  raise ValueError(f"model.embedding_init must be 'default' or 'keras_uniform', got {kind!r}")


class UserTower(nn.Module):
  """seq[B, T] (right-padded with 0) -> z[B, T, M, d], z[:, t] depends only on seq[:, :t+1].

  Packed rows (several windows one after another, `idw_jax.packing`) pass `segments` (window
  number within the row, equal ids attend to each other) and `positions` (index within the
  window): z at each position is then exactly that of the window on its own. `at` (int32[B])
  returns only z[:, at] -> [B, M, d] (one prefix per row; the encoder still runs on all).
  """

  num_items: int
  max_len: int
  embed_dim: int = 16
  num_layers: int = 2
  num_heads: int = 4
  num_interests: int = 5
  mlp_ratio: int = 4
  positions: bool = True
  embed_init: str = "default"

  @nn.compact
  def __call__(self, seq, segments=None, positions=None, at=None):
    _, t = seq.shape
    x = nn.Embed(self.num_items + 1, self.embed_dim, embedding_init=embedding_init(self.embed_init),
                 name="item_embed")(seq)
    if self.positions:
      pos = self.param("pos_embed", nn.initializers.normal(stddev=0.02),
                       (self.max_len, self.embed_dim))
      x = x + (pos[None, :t] if positions is None else pos[positions])
    mask = nn.make_causal_mask(seq)                                   # [B, 1, T, T]
    if segments is not None:
      mask = nn.combine_masks(mask, nn.make_attention_mask(segments, segments, jnp.equal))
    for i in range(self.num_layers):
      x = EncoderBlock(self.num_heads, self.mlp_ratio, name=f"block{i}")(x, mask)
    h = nn.LayerNorm(name="ln_out")(x)
    return ParametricAttention(self.num_interests, name="interests")(h, segments, at)


class ItemTower(nn.Module):
  """ids[...] -> v[..., d]: one-hot id -> Dense(mlp_dims[0]) -> ReLU -> ... -> Dense(mlp_dims[-1])."""

  num_items: int
  mlp_dims: Sequence[int] = (16, 16)
  embed_init: str = "default"

  @nn.compact
  def __call__(self, ids):
    x = nn.Embed(self.num_items + 1, self.mlp_dims[0],
                 embedding_init=embedding_init(self.embed_init), name="layer0")(ids)
    x = x + self.param("layer0_bias", nn.initializers.zeros, (self.mlp_dims[0],))
    for i, width in enumerate(self.mlp_dims[1:], start=1):
      x = nn.Dense(width, name=f"layer{i}")(nn.relu(x))
    return x


def make_towers(cfg, num_items: int, max_len: int) -> tuple[UserTower, ItemTower]:
  """Builds both towers from the `model` config section."""
  user = UserTower(num_items=num_items, max_len=max_len, embed_dim=cfg.embed_dim,
                   num_layers=cfg.num_layers, num_heads=cfg.num_heads,
                   num_interests=cfg.num_interests, mlp_ratio=cfg.mlp_ratio,
                   positions=cfg.positions, embed_init=cfg.embedding_init)
  item = ItemTower(num_items=num_items, mlp_dims=tuple(cfg.item_mlp_dims),
                   embed_init=cfg.embedding_init)
  return user, item


def init_params(key, user: UserTower, item: ItemTower) -> dict:
  """{'user': ..., 'item': ...} parameter pytrees."""
  ku, ki = jax.random.split(key)
  seq = jnp.zeros((1, user.max_len), jnp.int32)
  return {"user": user.init(ku, seq)["params"],
          "item": item.init(ki, jnp.zeros((1,), jnp.int32))["params"]}
