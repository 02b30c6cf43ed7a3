"""Tests for the sleep phase (idw_jax/density.py) against a float64 numpy reference."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from idw_jax import density

N_ITEMS, DIM = 3706, 16  # ML-1M's item count and the paper's embedding size.


def _embeddings(n=N_ITEMS, d=DIM, seed=0):
  """Clustered, off-centre embeddings with power-law cluster sizes: [n, d] float32."""
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(20, d)) * 2.0 + 3.0
  sizes = 1.0 / np.arange(1, 21) ** 1.2
  labels = rng.choice(20, size=n, p=sizes / sizes.sum())
  return (centres[labels] + 0.5 * rng.normal(size=(n, d))).astype(np.float32)


def _power_law_weights(n=N_ITEMS, seed=1):
  """Positive, heavy-tailed weights summing to 1 (like item frequencies): [n] float64."""
  rng = np.random.default_rng(seed)
  w = 1.0 / np.arange(1, n + 1) ** 0.8
  w = w[rng.permutation(n)]
  return w / w.sum()


def _scott_ref(points):
  """Scott's rule in float64: mean per-dimension std (ddof=1) times n^(-1/(d+4))."""
  n, d = points.shape
  return np.mean(np.std(points.astype(np.float64), axis=0, ddof=1)) * n ** (-1.0 / (d + 4))


def _kde_ref(queries, points, weights, bandwidth, chunk=128):
  """p(q) = sum_k w_k N(q; v_k, l^2 I) / sum_k w_k by direct differences in float64: [Q]."""
  q = np.asarray(queries, np.float64)
  v = np.asarray(points, np.float64)
  w = np.asarray(weights, np.float64)
  d = v.shape[1]
  out = np.empty(len(q))
  for s in range(0, len(q), chunk):
    diff = q[s:s + chunk, None, :] - v[None, :, :]
    d2 = np.einsum("qnd,qnd->qn", diff, diff)
    out[s:s + chunk] = np.exp(-d2 / (2 * bandwidth**2)) @ w
  return out / w.sum() * (2 * np.pi * bandwidth**2) ** (-d / 2)


def _relative_ref(p):
  return (p - p.min()) / (p.max() - p.min())


@pytest.fixture(scope="module")
def data():
  x = _embeddings()
  w = _power_law_weights()
  l = _scott_ref(x)
  return {
      "x": x, "w": w, "l": l,
      "p_uniform": _kde_ref(x, x, np.ones(len(x)), l),
      "p_weighted": _kde_ref(x, x, w, l),
  }


def test_scott_bandwidth(data):
  np.testing.assert_allclose(float(density.scott_bandwidth(data["x"])), data["l"], rtol=1e-5)


@pytest.mark.parametrize("weighted", [False, True])
def test_kde_matches_float64_reference(data, weighted):
  w = data["w"] if weighted else None
  ref = data["p_weighted"] if weighted else data["p_uniform"]
  # 1000 and 700 divide neither N nor each other: exercises padding on both axes.
  p = np.asarray(density.kde(data["x"], data["x"], w, data["l"], block_q=1000, block_n=700))
  assert p.shape == (N_ITEMS,) and p.dtype == np.float32
  np.testing.assert_allclose(p, ref, rtol=1e-4)
  np.testing.assert_allclose(
      np.asarray(density.relative_density(jnp.asarray(p))), _relative_ref(ref), atol=1e-3)


def test_log_kde_and_kernel_sums_agree_with_kde(data):
  x, w, l = data["x"], data["w"], data["l"]
  log_p = np.asarray(density.log_kde(x, x, w, l, block_q=1024, block_n=1024))
  np.testing.assert_allclose(log_p, np.log(data["p_weighted"]), atol=1e-4)
  s = np.asarray(density.kernel_sums(x, x, w, l, block_q=1024, block_n=1024))
  np.testing.assert_allclose(s, data["p_weighted"] * (2 * np.pi * l**2) ** (DIM / 2), rtol=1e-4)
  assert np.all((s > 0) & (s <= 1 + 1e-6))


@pytest.mark.parametrize("block_q,block_n", [(1, 4096), (37, 53), (8192, 8192), (256, 1)])
def test_kde_block_sizes_and_query_count(block_q, block_n):
  x = _embeddings(n=300, d=5, seed=3)
  queries = _embeddings(n=77, d=5, seed=4)
  w = _power_law_weights(n=300)
  l = _scott_ref(x)
  p = density.kde(queries, x, w, l, block_q=block_q, block_n=block_n)
  np.testing.assert_allclose(np.asarray(p), _kde_ref(queries, x, w, l), rtol=1e-4)


@pytest.mark.parametrize("block_q,block_n", [(32, 64), (128, 16)])
def test_pallas_kernel_interpreted_matches_reference(block_q, block_n):
  """The optional fused Pallas kernel (GPU), run in interpret mode: same numbers, d padded to 16."""
  x = _embeddings(n=300, d=5, seed=3)
  queries = _embeddings(n=77, d=5, seed=4)
  w = _power_law_weights(n=300)
  l = _scott_ref(x)
  p = density.kde(queries, x, w, l, block_q=block_q, block_n=block_n, impl="pallas_interpret")
  np.testing.assert_allclose(np.asarray(p), _kde_ref(queries, x, w, l), rtol=1e-4)
  with pytest.raises(ValueError, match="impl"):
    density.kde(queries, x, w, l, impl="cuda")


def test_kde_integrates_to_one():
  """Normalisation: a 2-D weighted KDE sums to 1 over a fine grid."""
  rng = np.random.default_rng(5)
  pts = rng.normal(size=(20, 2)).astype(np.float32)
  w = rng.uniform(0.1, 3.0, size=20)
  grid = np.linspace(-7, 7, 201)
  gx, gy = np.meshgrid(grid, grid)
  queries = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
  p = np.asarray(density.kde(queries, pts, w, 0.4))
  assert abs(p.sum() * (grid[1] - grid[0]) ** 2 - 1.0) < 1e-3


def test_tiny_bandwidth_stays_finite_in_log_space():
  """(2 pi l^2)^(-d/2) overflows float32 for l = 1e-3, d = 16; log_kde and the sleep phase do
  not."""
  x = _embeddings(n=50, d=16, seed=6) * 1e-3
  l = 1e-3
  log_p = np.asarray(density.log_kde(x, x, None, l))
  ref = np.log(_kde_ref(x, x, np.ones(50), l))  # float64 holds it
  assert np.all(np.isfinite(log_p))
  np.testing.assert_allclose(log_p, ref, atol=1e-4)
  w_new, _ = density.sleep_update(x, np.full(50, 1 / 50), 0.9)
  assert np.all(np.isfinite(np.asarray(w_new)))


def test_tiles_not_rows_of_memory():
  """Compiled temp memory is O(block_q x block_n), far below one block_q x N tile (compile only)."""
  n, block = 200_000, 512
  x = jax.ShapeDtypeStruct((n, DIM), jnp.float32)
  w = jax.ShapeDtypeStruct((n,), jnp.float32)
  compiled = density._kernel_sums.lower(
      x, x, w, 1.0, block_q=block, block_n=block, mesh=None, impl="xla").compile()
  stats = compiled.memory_analysis()
  if stats is None:
    pytest.skip("backend reports no memory analysis")
  row_tile_bytes = block * n * 4  # 400 MB
  assert stats.temp_size_in_bytes < row_tile_bytes / 8


def test_relative_density_by_hand():
  p = jnp.array([1.0, 2.0, 3.0, 5.0])
  np.testing.assert_allclose(np.asarray(density.relative_density(p)), [0.0, 0.25, 0.5, 1.0])
  np.testing.assert_array_equal(np.asarray(density.relative_density(jnp.full(4, 0.7))), np.zeros(4))


def _far_apart():
  """Three items at 0 and one at 1000 (1-D): two distinct kernel sums,
  S = [.6 + .4e] * 3 + [.4 + .6e]."""
  x = np.array([[0.0], [0.0], [0.0], [1000.0]], np.float32)
  w = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
  return x, w


def test_sleep_update_by_hand():
  x, w = _far_apart()
  # S_0 = S_1 = S_2 > S_3 -> p' = [1, 1, 1, 0] -> h = [0, 0, 0, 1];  Eq. 9 with m = 0.5:
  w_new, info = density.sleep_update(x, w, 0.5)
  np.testing.assert_allclose(np.asarray(w_new), [0.05, 0.1, 0.15, 0.7], rtol=1e-6)
  np.testing.assert_allclose(float(info["bandwidth"]), _scott_ref(x), rtol=1e-6)
  np.testing.assert_allclose(float(jnp.sum(w_new)), 1.0, rtol=1e-6)
  w_same, _ = density.sleep_update(x, w, 1.0)
  np.testing.assert_array_equal(np.asarray(w_same), w)


def test_sleep_update_inverse_by_hand():
  x, w = _far_apart()
  l = _scott_ref(x)
  e = math.exp(-(1000.0**2) / (2 * l * l))  # the kernel between the two sites
  p = np.array([0.6 + 0.4 * e] * 3 + [0.4 + 0.6 * e]) / math.sqrt(2 * math.pi * l * l)
  h = 1.0 / (p + 1e-4)
  expected = 0.8 * w + 0.2 * h / h.sum()
  w_new, _ = density.sleep_update(x, w, 0.8, weighting="inverse")
  np.testing.assert_allclose(np.asarray(w_new), expected, rtol=1e-5)


def test_sleep_update_matches_reference(data):
  """Eq. 7-9 end to end at ML-1M size, against float64."""
  x, w = data["x"], data["w"]
  h = 1.0 - _relative_ref(data["p_weighted"])
  expected = 0.9 * w + 0.1 * h / h.sum()
  w_new, info = density.sleep_update(x, w, 0.9, block_q=1000, block_n=700)
  np.testing.assert_allclose(np.asarray(w_new), expected, rtol=1e-3, atol=1e-7)
  np.testing.assert_allclose(float(jnp.sum(w_new)), 1.0, rtol=1e-5)
  np.testing.assert_allclose(float(info["density_max"]), data["p_weighted"].max(), rtol=1e-4)
  np.testing.assert_allclose(float(info["density_min"]), data["p_weighted"].min(), rtol=1e-4)


def test_sampling_option_is_deterministic_given_key():
  x = _embeddings(n=400, d=8, seed=7)
  w = _power_law_weights(n=400)
  kwargs = dict(sample_size=1000, noise_std=0.1, weighting="inverse")
  a, info = density.sleep_update(x, w, 0.8, key=jax.random.key(0), **kwargs)
  b, _ = density.sleep_update(x, w, 0.8, key=jax.random.key(0), **kwargs)
  c, _ = density.sleep_update(x, w, 0.8, key=jax.random.key(1), **kwargs)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not np.allclose(np.asarray(a), np.asarray(c))
  assert int(info["num_kde_points"]) == 1000
  np.testing.assert_allclose(float(jnp.sum(a)), 1.0, rtol=1e-5)
  with pytest.raises(ValueError, match="key"):
    density.sleep_update(x, w, 0.8, sample_size=10)


def test_sampling_without_noise_approaches_weighted_kde():
  """Items drawn proportional to w with uniform weights estimate the w-weighted KDE (same
  bandwidth)."""
  x = _embeddings(n=200, d=2, seed=8)
  w = _power_law_weights(n=200)
  key = jax.random.key(3)
  idx = jax.random.choice(jax.random.split(key)[0], 200, (20000,), p=jnp.asarray(w / w.sum()))
  l = _scott_ref(x)
  sampled = np.asarray(density.kde(x, x[np.asarray(idx)], None, l))
  exact = _kde_ref(x, x, w, l)
  assert np.corrcoef(sampled, exact)[0, 1] > 0.99


def test_weight_change():
  a = jnp.array([0.5, 0.3, 0.2])
  b = jnp.array([0.2, 0.3, 0.6])
  np.testing.assert_allclose(float(density.weight_change(a, b)), 0.5, rtol=1e-6)
  np.testing.assert_allclose(float(density.weight_change(a, b, "inf")), 0.4, rtol=1e-6)
  with pytest.raises(ValueError):
    density.weight_change(a, b, "l1")


def test_bad_arguments():
  x, w = _far_apart()
  with pytest.raises(ValueError, match="weighting"):
    density.sleep_update(x, w, 0.9, weighting="focal")
  with pytest.raises(ValueError, match="weights"):
    density.sleep_update(x, w[:3], 0.9)
  with pytest.raises(ValueError, match="points"):
    density.kde(x, np.zeros((4, 2), np.float32), None, 1.0)
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("batch",))
  with pytest.raises(ValueError, match="axis"):
    density.kde(x, x, w, 1.0, mesh=mesh)


_MULTI_DEVICE_SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    from idw_jax import density
    assert jax.device_count() == 4, jax.devices()
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(1001, 16)) + 2).astype(np.float32)
    w = rng.uniform(0.01, 1.0, size=1001).astype(np.float32)
    l = float(density.scott_bandwidth(x))
    one = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    four = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    ref = np.asarray(density.kde(x, x, w, l, block_q=100, block_n=128, mesh=one))
    for mesh in (four, None):  # explicit mesh, and the default over all devices
      p = np.asarray(density.kde(x, x, w, l, block_q=100, block_n=128, mesh=mesh))
      np.testing.assert_allclose(p, ref, rtol=1e-6)
    w1, _ = density.sleep_update(x, w / w.sum(), 0.9, mesh=one)
    w4, _ = density.sleep_update(x, w / w.sum(), 0.9)
    np.testing.assert_allclose(np.asarray(w4), np.asarray(w1), rtol=1e-5)  # sum(h) order differs
    print("OK")
""")


@pytest.mark.slow      # a subprocess with 4 devices
def test_four_devices_match_one():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
  result = subprocess.run(
      [sys.executable, "-c", _MULTI_DEVICE_SCRIPT], env=env, cwd=repo, capture_output=True,
      text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "OK" in result.stdout


@pytest.mark.parametrize("d,n,weighted", [(2, 300, True), (5, 800, True), (4, 500, False)])
def test_full_covariance_kde_matches_scipy_gaussian_kde(d, n, weighted):
  """The authors' sleep phase KDE (full covariance, Scott's factor with the weights' effective n)
  against scipy.stats.gaussian_kde, in float64."""
  from scipy import stats
  from idw_jax import density
  rng = np.random.default_rng(d)
  mix = rng.normal(size=(d, d))
  points = rng.normal(size=(n, d)) @ mix + rng.normal(size=d)   # correlated dimensions
  weights = rng.gamma(0.5, size=n) if weighted else None
  queries = points[rng.choice(n, 64)] + 0.3 * rng.normal(size=(64, d))
  ref = stats.gaussian_kde(points.T, weights=weights).logpdf(queries.T)
  got = density.full_covariance_log_kde(
      jnp.asarray(queries, jnp.float32), jnp.asarray(points, jnp.float32),
      None if weights is None else jnp.asarray(weights, jnp.float32), block_q=16, block_n=64)
  # log densities: relative error of the density is the absolute error of its log.
  np.testing.assert_allclose(np.asarray(got, np.float64), ref, rtol=0, atol=1e-5)


def test_sleep_update_full_covariance_on_targets_matches_scipy():
  """The authors' sleep phase (exact weights here, no sampling): scipy.stats.gaussian_kde with
  the weights, fitted on the training targets (support) and scored at every item; h = 1/(p +
  1e-4) on the targets only; w_new = m w + (1 - m) h / sum h. Float64 reference."""
  from scipy import stats
  from idw_jax import density
  rng = np.random.default_rng(7)
  n, d, m = 400, 4, 0.8
  emb = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3
  support = rng.random(n) > 0.1
  w = np.where(support, rng.gamma(1.0, size=n), 0.0)
  w /= w.sum()
  w[~support] = 1e-3 / n          # off-support items keep a weight they got earlier
  kde = stats.gaussian_kde(emb[support].T, weights=w[support])
  h = np.where(support, 1.0 / (kde.pdf(emb.T) + 1e-4), 0.0)
  want = m * w + (1 - m) * h / h.sum()
  got, _ = density.sleep_update(
      jnp.asarray(emb, jnp.float32), jnp.asarray(w, jnp.float32), m, weighting="inverse",
      covariance="full", support=jnp.asarray(support), block_q=64, block_n=64)
  np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=2e-4, atol=1e-9)
  # The isotropic kernel gives other weights on these correlated embeddings.
  iso, _ = density.sleep_update(
      jnp.asarray(emb, jnp.float32), jnp.asarray(w, jnp.float32), m, weighting="inverse",
      support=jnp.asarray(support), block_q=64, block_n=64)
  assert not np.allclose(np.asarray(iso, np.float64), want, rtol=1e-2)
