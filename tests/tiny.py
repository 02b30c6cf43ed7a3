"""A tiny synthetic configuration that trains in seconds (shared by the training tests)."""

from idw_jax import config as config_lib

TINY_OVERRIDES = [
    "--config.data.synthetic.num_users=400",
    "--config.train.batch_size=32",
    "--config.train.max_epochs=2",
    "--config.train.steps_per_call=4",
    "--config.idw.max_iterations=1",
    "--config.idw.wake_max_epochs=2",
    "--config.idw.calibration_max_epochs=1",
]


def tiny_config(method="mur_idw", **fields):
  """Finalized tiny config; fields are dotted overrides, e.g. {"train.max_epochs": 1}."""
  c = config_lib.get_config_for({"data.name": "synthetic"}, method)
  for flag in TINY_OVERRIDES:
    key, value = flag[len("--config."):].split("=")
    fields.setdefault(key, int(value))
  for key, value in fields.items():
    config_lib._set(c, key, value)
  return config_lib.finalize(c)
