"""idw-jax: multi-interest sequential recommendation with Iterative Density Weighting.

The Python API (idw_jax/api.py) and the preset configs (idw_jax.configs), loaded on first use so
that `import idw_jax` stays cheap (no jax): `get_config`, `train_run`, `load_run`, `top_k`,
`evaluate_run`."""

from __future__ import annotations

import importlib

# Never the name of a module of the package: importing that module would replace the attribute.
API = ("get_config", "train_run", "load_run", "top_k", "evaluate_run")


def __getattr__(name: str):
  if name in API:
    return getattr(importlib.import_module("idw_jax.api"), name)
  if name == "configs":
    return importlib.import_module("idw_jax.configs")
  raise AttributeError(f"module 'idw_jax' has no attribute {name!r}")


def __dir__():
  return sorted([*globals(), *API, "configs"])
