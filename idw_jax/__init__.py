"""idw-jax: multi-interest sequential recommendation with Iterative Density Weighting.

The Python API (idw_jax/api.py), loaded on first use so that `import idw_jax` stays cheap:
`get_config`, `train_run`, `load_run`, `top_k`; the preset configs are `idw_jax.configs`."""

from __future__ import annotations

# Never the name of a module of the package: importing it would replace the attribute.
API = ("get_config", "train_run", "load_run", "top_k")


def __getattr__(name: str):
  if name in API:
    from idw_jax import api
    return getattr(api, name)
  raise AttributeError(f"module 'idw_jax' has no attribute {name!r}")


def __dir__():
  return sorted([*globals(), *API])
