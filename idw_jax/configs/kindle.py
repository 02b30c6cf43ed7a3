"""Amazon 2018 Kindle Store (Table 1). Arg: method[,preset][,tiny].

Needs the review file `Kindle_Store.json.gz` of the Amazon review data (2018), published at
https://nijianmo.github.io/amazon/index.html; set data.path (relative to data.root).
"""

from __future__ import annotations

from idw_jax.configs.dataset import Dataset

DATASET = Dataset({
    "data.name": "kindle",
    "data.source": "amazon",
    "data.path": "amazon2018/Kindle_Store.json.gz",
    "train.pack_windows": True,  # batches of packed rows (batch size: config.TABLE)
})
