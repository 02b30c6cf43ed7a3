"""Amazon 2018 Clothing, Shoes & Jewelry (Table 1). Arg: method[,preset][,tiny].

Needs `Clothing_Shoes_and_Jewelry.json.gz` of the Amazon review data (2018), published at
https://nijianmo.github.io/amazon/index.html; set data.path (relative to data.root). The
2014 5-core stand-in in ../shared/data is `configs/clothing_standin.py`.

`tiny`: a smoke run of seconds on the file's first 200 users (idw_jax.config.TINY, TINY_REAL);
its numbers check the machinery, are not results, and may change between versions.
"""

from __future__ import annotations

from idw_jax.configs.dataset import Dataset

DATASET = Dataset({
    "data.name": "clothing",
    "data.source": "amazon",
    "data.path": "amazon2018/Clothing_Shoes_and_Jewelry.json.gz",
    "train.pack_windows": True,  # batches of packed rows (batch size: config.TABLE)
})
