"""The two towers of Sec. 3.1 as Flax Linen modules (used through pure `init`/`apply`).

User tower: item embedding + learned positions, a causal pre-LN self-attention encoder, and
parametric attention with M learned global queries (Humeau et al.). Causal all the way down,
so one forward pass over a window yields the user representation of every prefix.
Item tower: a 2-layer MLP on the one-hot item id (the first layer is an embedding lookup).

The authors' released TF code builds both towers differently (`model.encoder`,
`model.interest_pool`, `model.item_tower` = "tfrs", the `authors_code` preset): no LayerNorm
and no feed-forward block (x + ELU(MHA(x)) after a Dense input projection of sqrt(d) times the
embedding), attention both ways within the prefix, pooling queries with a learned scale, and an
item tower Dense(sqrt(d) x embedding).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class EncoderBlock(nn.Module):
  """Pre-LayerNorm causal self-attention block. Dropout (training only, as SASRec's blocks): on
  the attention weights, after the feed-forward block's hidden layer and after its output."""

  num_heads: int
  mlp_ratio: int = 4
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, mask, deterministic: bool = True):
    d = x.shape[-1]
    h = nn.LayerNorm(name="ln_attn")(x)
    h = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, dropout_rate=self.dropout,
                                        broadcast_dropout=False, name="attn")(
                                            h, h, mask=mask, deterministic=deterministic)
    x = x + h
    h = nn.LayerNorm(name="ln_mlp")(x)
    h = nn.Dense(self.mlp_ratio * d, name="mlp_in")(h)
    h = nn.Dropout(self.dropout)(nn.gelu(h), deterministic=deterministic)
    h = nn.Dense(d, name="mlp_out")(h)
    return x + nn.Dropout(self.dropout)(h, deterministic=deterministic)


def attention_rows(query, key, value, mask=None, dropout_rng=None, dropout_rate=0.0,
                   deterministic=True, **unused):
  """`nn.dot_product_attention` (no bias; dropout not broadcast) with the softmax taken over a
  2-D [rows, keys] view. The same math; on XLA:CPU the softmax's backward over [B, 1, T, T] (one
  head) is ~5x slower than over [B * T, T] (benchmarks/train_throughput.py --trace), while
  with 4 heads the 2-D view is ~10% slower, so TfrsBlock uses it for one head only."""
  del unused
  query = query / jnp.sqrt(query.shape[-1]).astype(query.dtype)
  logits = jnp.einsum("...qhd,...khd->...hqk", query, key)
  if mask is not None:
    logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
  shape = logits.shape
  weights = jax.nn.softmax(logits.reshape(-1, shape[-1]), axis=-1).reshape(shape)
  if not deterministic and dropout_rate > 0.0:
    keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_rate, shape)
    weights = jnp.where(keep, weights / (1.0 - dropout_rate), 0.0).astype(weights.dtype)
  return jnp.einsum("...hqk,...khd->...qhd", weights, value)


class TfrsBlock(nn.Module):
  """The authors' encoder layer (TFRS-style): x + ELU(MHA(x, x)), no LayerNorm, no FFN."""

  num_heads: int
  dropout: float = 0.0          # on the attention weights, training only

  @nn.compact
  def __call__(self, x, mask, deterministic: bool = True):
    h = nn.MultiHeadDotProductAttention(
        num_heads=self.num_heads, kernel_init=nn.initializers.xavier_uniform(),
        attention_fn=attention_rows if self.num_heads == 1 else nn.dot_product_attention,
        dropout_rate=self.dropout, broadcast_dropout=False,
        name="attn")(x, x, mask=mask, deterministic=deterministic)
    return x + nn.elu(h)


class ParametricAttention(nn.Module):
  """M learned queries pool the encoder outputs; causal: output t pools positions <= t.

  z[b, t, m] = sum_{i <= t} softmax_i(q_m . h[b, i]) h[b, i]   (Sec. 3.1)

  `at` (int32[B]) asks for one prefix per row, z[b, at[b]] -> [B, M, d], without pooling the
  others (training with one target per window, evaluation).
  """

  num_interests: int
  pool: str = "plain"   # "plain" | "scaled": Keras Attention(use_scale=True), as the authors

  @nn.compact
  def __call__(self, h, segments=None, at=None):
    b, t, d = h.shape
    if self.pool == "scaled":   # queries U(-0.05, 0.05), logits times a learned scalar (init 1)
      q = self.param("queries", _uniform(0.05), (self.num_interests, d))
      q = q * self.param("scale", nn.initializers.ones, ())
    else:
      q = self.param("queries", nn.initializers.normal(stddev=d ** -0.5), (self.num_interests, d))
    logits = jnp.einsum("md,bid->bmi", q, h)                          # [B, M, T]
    if at is not None:            # only the prefix ending at position at[b]: z[b] is [M, d]
      visible = jnp.arange(t)[None, :] <= at[:, None]                 # [B, T]
      alpha = jax.nn.softmax(jnp.where(visible[:, None, :], logits, -jnp.inf), axis=-1)
      self.sow("intermediates", "alpha", alpha)   # [B, M, T]: serving reads it (recommend.py)
      return jnp.einsum("bmi,bid->bmd", alpha, h)
    causal = jnp.tril(jnp.ones((t, t), bool))[None]                   # [1, t, i]
    if segments is not None:                                          # packed rows: own window
      causal = causal & (segments[:, :, None] == segments[:, None, :])
    logits = jnp.where(causal[:, :, None, :], logits[:, None, :, :], -jnp.inf)
    alpha = jax.nn.softmax(logits, axis=-1)                           # [B, T, M, T]
    return jnp.einsum("btmi,bid->btmd", alpha, h)


def _uniform(limit: float):
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -limit, limit)


EMBEDDING_INITS = ("default", "keras_uniform", "uniform_0.1")


def embedding_init(kind: str):
  """"default": Flax's (normal, std 1); "keras_uniform": U(-0.05, 0.05), Keras' default;
  "uniform_0.1": U(-0.1, 0.1), what the authors' code sets for both towers."""
  if kind == "default":
    return nn.initializers.variance_scaling(1.0, "fan_in", "normal", out_axis=0)
  if kind == "keras_uniform":
    return _uniform(0.05)
  if kind == "uniform_0.1":
    return _uniform(0.1)
  raise ValueError(f"model.embedding_init must be one of {EMBEDDING_INITS}, got {kind!r}")


class UserTower(nn.Module):
  """seq[B, T] (right-padded with 0) -> z[B, T, M, d], z[:, t] depends only on seq[:, :t+1].

  Packed rows (several windows one after another, `idw_jax.packing`) pass `segments` (window
  number within the row, equal ids attend to each other) and `positions` (index within the
  window): z at each position is then exactly that of the window on its own. `at` (int32[B])
  returns only z[:, at] -> [B, M, d] (one prefix per row; the encoder still runs on all).
  `deterministic=False` (training) applies `dropout` after the embeddings and in every encoder
  block (SASRec's places), with the "dropout" rng of `apply`; evaluation leaves it off.
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
  encoder: str = "pre_ln"         # "pre_ln" (paper) | "tfrs" (the authors' code)
  interest_pool: str = "plain"    # "plain" | "scaled" (ParametricAttention.pool)
  dropout: float = 0.0            # training only (deterministic=False)

  @nn.compact
  def __call__(self, seq, segments=None, positions=None, at=None, deterministic: bool = True):
    _, t = seq.shape
    x = nn.Embed(self.num_items + 1, self.embed_dim, embedding_init=embedding_init(self.embed_init),
                 name="item_embed")(seq)
    if self.encoder == "tfrs":
      return self._tfrs(x, seq, at, deterministic)
    if self.positions:
      pos = self.param("pos_embed", nn.initializers.normal(stddev=0.02),
                       (self.max_len, self.embed_dim))
      x = x + (pos[None, :t] if positions is None else pos[positions])
    x = nn.Dropout(self.dropout)(x, deterministic=deterministic)
    mask = nn.make_causal_mask(seq)                                   # [B, 1, T, T]
    if segments is not None:
      mask = nn.combine_masks(mask, nn.make_attention_mask(segments, segments, jnp.equal))
    for i in range(self.num_layers):
      x = EncoderBlock(self.num_heads, self.mlp_ratio, self.dropout, name=f"block{i}")(
          x, mask, deterministic)
    h = nn.LayerNorm(name="ln_out")(x)
    return ParametricAttention(self.num_interests, self.interest_pool, name="interests")(
        h, segments, at)

  def _tfrs(self, x, seq, at, deterministic: bool):
    """The authors' encoder: Dense(sqrt(d) x embedding), then x + ELU(MHA(x)) per layer, no
    LayerNorm. Their windows are left-padded with the pads masked as keys, so every position
    attends to the whole prefix: with `at`, keys are the positions <= at[b], both ways; without
    (init, every-prefix training) the mask is causal. Dropout: after the input projection and
    on the attention weights."""
    x = nn.Dense(self.embed_dim, kernel_init=nn.initializers.xavier_uniform(),
                 name="input_proj")(x * jnp.sqrt(jnp.float32(self.embed_dim)))
    x = nn.Dropout(self.dropout)(x, deterministic=deterministic)
    if at is None:
      mask = nn.make_causal_mask(seq)
    else:
      visible = jnp.arange(seq.shape[1])[None, :] <= at[:, None]        # [B, T]
      mask = visible[:, None, None, :]              # [B, 1, 1, T(k)], broadcast over queries
    for i in range(self.num_layers):
      x = TfrsBlock(self.num_heads, self.dropout, name=f"block{i}")(x, mask, deterministic)
    return ParametricAttention(self.num_interests, self.interest_pool, name="interests")(
        x, None, at)


class ItemTower(nn.Module):
  """ids[...] -> v[..., d]: one-hot id -> Dense(mlp_dims[0]) -> ReLU -> ... -> Dense(mlp_dims[-1]).

  kind "tfrs" (the authors' code): sqrt(mlp_dims[0]) x embedding (no bias, no ReLU after it),
  then Dense layers with ReLU between them, the last linear."""

  num_items: int
  mlp_dims: Sequence[int] = (16, 16)
  embed_init: str = "default"
  kind: str = "mlp"               # "mlp" | "tfrs"

  @nn.compact
  def __call__(self, ids):
    x = nn.Embed(self.num_items + 1, self.mlp_dims[0],
                 embedding_init=embedding_init(self.embed_init), name="layer0")(ids)
    if self.kind == "tfrs":
      x = x * jnp.sqrt(jnp.float32(self.mlp_dims[0]))
      for i, width in enumerate(self.mlp_dims[1:], start=1):
        x = nn.Dense(width, kernel_init=nn.initializers.xavier_uniform(),
                     name=f"layer{i}")(x if i == 1 else nn.relu(x))
      return x
    x = x + self.param("layer0_bias", nn.initializers.zeros, (self.mlp_dims[0],))
    for i, width in enumerate(self.mlp_dims[1:], start=1):
      x = nn.Dense(width, name=f"layer{i}")(nn.relu(x))
    return x


def make_towers(cfg, num_items: int, max_len: int) -> tuple[UserTower, ItemTower]:
  """Builds both towers from the `model` config section."""
  user = UserTower(num_items=num_items, max_len=max_len, embed_dim=cfg.embed_dim,
                   num_layers=cfg.num_layers, num_heads=cfg.num_heads,
                   num_interests=cfg.num_interests, mlp_ratio=cfg.mlp_ratio,
                   positions=cfg.positions, embed_init=cfg.embedding_init,
                   encoder=cfg.encoder, interest_pool=cfg.interest_pool,
                   dropout=float(cfg.dropout))
  item = ItemTower(num_items=num_items, mlp_dims=tuple(cfg.item_mlp_dims),
                   embed_init=cfg.embedding_init, kind=cfg.item_tower)
  return user, item


def init_params(key, user: UserTower, item: ItemTower) -> dict:
  """{'user': ..., 'item': ...} parameter pytrees."""
  ku, ki = jax.random.split(key)
  seq = jnp.zeros((1, user.max_len), jnp.int32)
  return {"user": user.init(ku, seq)["params"],
          "item": item.init(ki, jnp.zeros((1,), jnp.int32))["params"]}
