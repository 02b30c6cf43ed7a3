"""The preset configs, shipped inside the package: a module per dataset (its fields, its
variants, its docstring), found by name in REGISTRY.

  from idw_jax import configs
  c = configs.get("ml1m", "mur_idw,tiny")   # = launch.py --config=configs/ml1m.py:mur_idw,tiny

`get` returns the unfinalized config (`config.finalize` resolves it), as a config file's
`get_config(arg)` does; `configs/*.py` in the repository are thin files for `launch.py` that
call it. A dataset is added with a module here and one REGISTRY entry.
"""

from __future__ import annotations

import functools

import ml_collections

from idw_jax.configs import clothing
from idw_jax.configs import clothing_scale
from idw_jax.configs import clothing_standin
from idw_jax.configs import custom
from idw_jax.configs import kindle
from idw_jax.configs import ml1m
from idw_jax.configs import ml1m_loo
from idw_jax.configs import synthetic
from idw_jax.configs.dataset import Dataset

# {name (as configs/<name>.py): its Dataset}
REGISTRY: dict[str, Dataset] = {
    "synthetic": synthetic.DATASET,
    "ml1m": ml1m.DATASET,
    "ml1m_loo": ml1m_loo.DATASET,
    "clothing": clothing.DATASET,
    "clothing_scale": clothing_scale.DATASET,
    "clothing_standin": clothing_standin.DATASET,
    "kindle": kindle.DATASET,
    "custom": custom.DATASET,
}


def names() -> tuple[str, ...]:
  return tuple(REGISTRY)


def get(name: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """The unfinalized config of preset `name` under arg "method[,preset][,variant...][,tiny]"."""
  if name not in REGISTRY:
    raise ValueError(f"no preset config {name!r}; the presets are {', '.join(REGISTRY)}")
  return REGISTRY[name].config(arg)


def getter(name: str):
  """`get_config(arg=None)` of preset `name`, for a config file of launch.py."""
  return functools.partial(get, name)
