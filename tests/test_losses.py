"""Affinity and batch-softmax losses against float64 numpy loops over (example, candidate) pairs."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from idw_jax import affinity, losses


def _np_affinity(z, v, kind):
  """float64 loop: s[i, j] for every user i and candidate j (Eq. 4 or max)."""
  s = np.zeros((z.shape[0], v.shape[0]))
  for i, j in itertools.product(range(z.shape[0]), range(v.shape[0])):
    l = np.array([z[i, m] @ v[j] for m in range(z.shape[1])], np.float64)
    if kind == "max":
      s[i, j] = l.max()
    else:
      w = np.exp(l - l.max())
      w /= w.sum()
      zu = sum(w[m] * z[i, m] for m in range(z.shape[1]))     # z_u = sum_m w_m z_m
      s[i, j] = zu @ v[j]
  return s


def _np_loss(z, v, targets, valid, log_q, ew, kind, use_logq, hits, temperature=1.0, gamma=0.0,
             margin=None):
  s = _np_affinity(z, v, kind) / temperature
  n = len(targets)
  total, count = 0.0, 0
  for i in range(n):
    if not valid[i]:
      continue
    count += 1
    logits = []
    for j in range(n):
      if not valid[j] or (hits and j != i and targets[j] == targets[i]):
        continue
      x = s[i, j] - (log_q[j] if use_logq else 0.0)
      if j == i and margin is not None:
        x -= margin[i]
      logits.append((j, x))
    mx = max(x for _, x in logits)
    lse = mx + math.log(sum(math.exp(x - mx) for _, x in logits))
    log_p = dict(logits)[i] - lse
    ce = -log_p
    if gamma:
      ce = (1 - math.exp(log_p)) ** gamma * ce
    total += ew[i] * ce
  return total / max(count, 1)


@pytest.fixture
def batch():
  rng = np.random.default_rng(0)
  n, m, d = 9, 3, 4
  z = rng.normal(size=(n, m, d))
  v = rng.normal(size=(n, d))
  targets = np.array([3, 5, 3, 7, 1, 5, 2, 3, 8])
  valid = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0], bool)
  log_q = np.log(rng.uniform(0.01, 0.3, size=n))
  ew = rng.uniform(0.2, 2.0, size=n)
  return z, v, targets, valid, log_q, ew


@pytest.mark.parametrize("kind", ["mixture", "max"])
def test_affinity_matches_numpy_loop(kind):
  rng = np.random.default_rng(1)
  z, v = rng.normal(size=(5, 4, 6)), rng.normal(size=(7, 6))
  got = np.asarray(affinity.affinity(jnp.asarray(z, jnp.float32), jnp.asarray(v, jnp.float32),
                                     kind))
  np.testing.assert_allclose(got, _np_affinity(z, v, kind), rtol=1e-5, atol=1e-5)
  rows = np.asarray(affinity.affinity_rows(jnp.asarray(z, jnp.float32),
                                           jnp.asarray(np.stack([v] * 5), jnp.float32), kind))
  np.testing.assert_allclose(rows, got, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["mixture", "max"])
@pytest.mark.parametrize("d", [5, 3])
def test_affinity_gradient_matches_finite_differences(kind, d):
  """The hand-written VJPs and values against float64 central differences of the numpy
  formula and the formula itself (both ways of forming the item gradient: d > 4 and d <= 4)."""
  rng = np.random.default_rng(3)
  z, v, g = rng.normal(size=(3, 4, d)), rng.normal(size=(6, d)), rng.normal(size=(3, 6))
  f = lambda z_, v_: np.sum(g * _np_affinity(z_, v_, kind))
  want = []
  for x, other, first in ((z, v, True), (v, z, False)):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
      e = np.zeros_like(x)
      e[i] = 1e-6
      hi = f(x + e, other) if first else f(other, x + e)
      lo = f(x - e, other) if first else f(other, x - e)
      grad[i] = (hi - lo) / 2e-6
    want.append(grad)
  f32 = lambda x: jnp.asarray(x, jnp.float32)
  fn = {"mixture": affinity.mixture_affinity, "max": affinity.max_affinity}[kind]
  aff = jax.jit(fn)
  np.testing.assert_allclose(np.asarray(aff(f32(z), f32(v))), _np_affinity(z, v, kind),
                             rtol=1e-5, atol=1e-5)
  got = jax.grad(lambda z_, v_: jnp.sum(f32(g) * aff(z_, v_)), argnums=(0, 1))(f32(z), f32(v))
  for a, b in zip(got, want):
    np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-4)


def test_max_gradient_splits_ties_like_jnp_max():
  """Two equal interests share the gradient equally, as autodiff of jnp.max does."""
  rng = np.random.default_rng(4)
  z = rng.normal(size=(4, 3, 5)).astype(np.float32)
  z[:, 1] = z[:, 0]                                             # interests 0 and 1 tie
  v = rng.normal(size=(6, 5)).astype(np.float32)
  g = jnp.asarray(rng.normal(size=(4, 6)), jnp.float32)
  ref = jax.grad(lambda z_, v_: jnp.sum(g * jnp.max(jnp.einsum("bmd,cd->bmc", z_, v_), axis=1)),
                 argnums=(0, 1))(z, v)
  got = jax.grad(lambda z_, v_: jnp.sum(g * affinity.max_affinity(z_, v_)), argnums=(0, 1))(z, v)
  for a, b in zip(got, ref):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("d", [5, 3])
def test_single_interest_is_dot_product(d):
  """M = 1 (SUR): value z v^T and the hand-written VJP's g v, g^T z against float64."""
  rng = np.random.default_rng(2)
  z, v, g = rng.normal(size=(4, 1, d)), rng.normal(size=(6, d)), rng.normal(size=(4, 6))
  f32 = lambda x: jnp.asarray(x, jnp.float32)
  for kind in ("mixture", "max"):
    got = affinity.affinity(f32(z), f32(v), kind)
    np.testing.assert_allclose(got, z[:, 0] @ v.T, rtol=1e-5, atol=1e-6)
    gz, gv = jax.grad(lambda z_, v_: jnp.sum(f32(g) * affinity.affinity(z_, v_, kind)),
                      argnums=(0, 1))(f32(z), f32(v))
    np.testing.assert_allclose(np.asarray(gz)[:, 0], g @ v, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(gv), g.T @ z[:, 0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,use_logq,hits,weighted", [
    ("mixture", True, False, True), ("mixture", False, False, False),
    ("mixture", True, True, False), ("max", True, False, True), ("max", False, True, True)])
def test_batch_softmax_matches_numpy_loop(batch, kind, use_logq, hits, weighted):
  z, v, targets, valid, log_q, ew = batch
  ew = ew if weighted else np.ones_like(ew)
  got, _ = losses.batch_softmax_loss(
      jnp.asarray(z, jnp.float32), jnp.asarray(v, jnp.float32), jnp.asarray(targets),
      jnp.asarray(valid), jnp.asarray(log_q, jnp.float32), jnp.asarray(ew, jnp.float32),
      affinity=kind, use_logq=use_logq, remove_accidental_hits=hits)
  want = _np_loss(z, v, targets, valid, log_q, ew, kind, use_logq, hits)
  np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_focal_qmargin_temperature_match_numpy(batch):
  z, v, targets, valid, log_q, ew = batch
  margin = np.linspace(0.1, 0.9, len(targets))
  got, _ = losses.batch_softmax_loss(
      jnp.asarray(z, jnp.float32), jnp.asarray(v, jnp.float32), jnp.asarray(targets),
      jnp.asarray(valid), jnp.asarray(log_q, jnp.float32), jnp.asarray(ew, jnp.float32),
      temperature=0.5, focal_gamma=2.0, margin=jnp.asarray(margin, jnp.float32))
  want = _np_loss(z, v, targets, valid, log_q, ew, "mixture", True, False, temperature=0.5,
                  gamma=2.0, margin=margin)
  np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_loss_is_jittable_and_differentiable(batch):
  z, v, targets, valid, log_q, ew = (jnp.asarray(x) for x in batch)
  f = jax.jit(lambda z, v: losses.batch_softmax_loss(z, v, targets, valid, log_q, ew)[0])
  gz, gv = jax.grad(f, argnums=(0, 1))(z.astype(jnp.float32), v.astype(jnp.float32))
  assert np.all(np.isfinite(gz)) and np.all(np.isfinite(gv))
  assert np.all(np.asarray(gv)[~np.asarray(valid)] == 0)   # padding candidates get no gradient


def test_example_weights_share_and_balance():
  p = np.array([0.0, 0.5, 0.3, 0.2, 0.0])
  # w = p: the unweighted loss, e = 1 on every training target.
  np.testing.assert_allclose(losses.example_weights(p, p), [0, 1, 1, 1, 0])
  # Frequency balance (Eq. 5): e ~ 1/p, mean 1 over targets: sum_y p_y e_y = 1.
  e = losses.example_weights(losses.uniform_item_weight(p), p)
  want = np.array([0, 1 / 0.5, 1 / 0.3, 1 / 0.2, 0]) / 3.0
  np.testing.assert_allclose(e, want, rtol=1e-6)
  assert np.isclose(np.sum(p * e), 1.0)
  lit = losses.example_weights(np.array([0, 0.2, 0.2, 0.6, 0]), p, "literal")
  np.testing.assert_allclose(lit, np.array([0, 0.2, 0.2, 0.6, 0]) / np.sum(p * [0, .2, .2, .6, 0]),
                             rtol=1e-6)


def test_qmargin_table_and_log_q():
  n = np.array([0, 16, 1, 81])
  delta = losses.qmargin_table(n, 0.5)
  np.testing.assert_allclose(delta, [0, 0.5 * 0.5, 0.5, 0.5 / 3], rtol=1e-6)
  lq = losses.log_q_table(np.array([0, 0.25, 0.75]))
  np.testing.assert_allclose(lq, np.log([0.25, 0.25, 0.75]), rtol=1e-6)


def test_item_norm_unit_length():
  v = jnp.array([[3.0, 4.0], [0.0, 2.0]])
  np.testing.assert_allclose(losses.normalize_items(v), [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)


@pytest.mark.parametrize("hits,margin", [(False, False), (True, False), (False, True)])
def test_merged_candidates_equal_one_column_per_example(batch, hits, margin):
  z, v_all, targets, valid, log_q_all, ew = batch
  # Embeddings and log q must be functions of the item id for merging to be meaningful.
  rng = np.random.default_rng(5)
  table = rng.normal(size=(10, v_all.shape[1])).astype(np.float32)
  lq_table = np.log(rng.uniform(0.01, 0.3, size=10)).astype(np.float32)
  kw = dict(remove_accidental_hits=hits, focal_gamma=1.0,
            margin=jnp.linspace(0.1, 0.5, len(targets)) if margin else None)
  t, val = jnp.asarray(targets), jnp.asarray(valid)
  zz = jnp.asarray(z, jnp.float32)
  want, _ = losses.batch_softmax_loss(zz, table[targets], t, val, lq_table[targets],
                                      jnp.asarray(ew, jnp.float32), **kw)
  ids, count, pos = losses.in_batch_candidates(t, val, dedup_size=11)
  got, _ = losses.candidate_softmax_loss(zz, table[ids], ids, count, lq_table[ids], t, pos, val,
                                         jnp.asarray(ew, jnp.float32), **kw)
  np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
  assert float(count.sum()) == valid.sum()
