"""Amazon 2018 Kindle Store (Table 1). Arg: method[,preset][,tiny].

Needs the review file `Kindle_Store.json.gz` of the Amazon review data (2018), published at
https://nijianmo.github.io/amazon/index.html; set data.path (relative to data.root).
"""

from idw_jax import config as config_lib


def get_config(arg=None):
  return config_lib.get_config_for({
      "data.name": "kindle",
      "data.source": "amazon",
      "data.path": "amazon2018/Kindle_Store.json.gz",
      "train.pack_windows": True,  # batches of packed rows (batch size: config.TABLE)
  }, arg)
