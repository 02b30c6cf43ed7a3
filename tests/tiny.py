"""The tiny synthetic configuration (idw_jax.config.TINY) as the tests use it."""

from idw_jax import config as config_lib

# As command-line flags, for tests that run launch.py or the grid.
TINY_OVERRIDES = [f"--config.{k}={v}" for k, v in config_lib.TINY.items()]


def tiny_config(method="mur_idw", **fields):
  """Finalized tiny config; fields are dotted overrides, e.g. {"train.max_epochs": 1}."""
  c = config_lib.get_config_for({"data.name": "synthetic"}, f"{method},tiny")
  for key, value in fields.items():
    config_lib._set(c, key, value)
  return config_lib.finalize(c)
