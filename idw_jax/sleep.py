"""The sleep of Alg. 1 as a run's config asks for it: new item weights from the density of the
item embeddings (Alg. 2, idw_jax/density.py), and how far they moved (the stopping rule)."""

from __future__ import annotations

import jax
import numpy as np

from idw_jax import density


def new_weights(idw, item_emb, w, rng, t: int, item_prob: np.ndarray
                ) -> tuple[jax.Array, float, float]:
  """(new item weights [N], their change from w under idw.stopping_norm, the KDE bandwidth) of
  sleep t. idw: config.idw; item_emb [N, d] and w [N]: items 1..N; rng: the run's key data (the
  sleep's key is folded from it and t); item_prob [N+1]: the items' target frequencies."""
  key = jax.random.fold_in(jax.random.wrap_key_data(rng), 10_000 + t)
  w_new, info = density.sleep_update(
      item_emb, w, idw.momentum, weighting=idw.weighting, sample_size=idw.kde_sample_size,
      noise_std=idw.kde_noise_std, key=key, covariance=idw.kde_covariance,
      support=item_prob[1:] > 0 if idw.weight_support == "targets" else None,
      block_q=idw.kde_block or None, block_n=idw.kde_block or None, impl=idw.kde_impl)
  change = float(density.weight_change(w_new, w, norm=idw.stopping_norm))
  if not np.isfinite(change):
    raise FloatingPointError(f"IDW sleep {t}: non-finite item weights (the item embeddings "
                             "hold NaN or inf, or, with idw.kde_covariance=full, the kernel "
                             "covariance is singular); no results were written")
  return w_new, change, float(info.get("bandwidth", np.nan))
