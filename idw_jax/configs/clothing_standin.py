"""Amazon 2014 Clothing 5-core STAND-IN (not the paper's 2018 data; pipeline checks only).

`tiny`: a smoke run of seconds on the file's first 200 users (idw_jax.config.TINY, TINY_REAL);
its numbers check the machinery, are not results, and may change between versions.
"""

from __future__ import annotations

from idw_jax.configs.dataset import Dataset

DATASET = Dataset({
    "data.name": "clothing-2014-standin",
    "data.source": "user_sequences",
    "data.path": "amazon2014_clothing_5core_STANDIN/Clothing.txt",
    "train.pack_windows": True,  # batches of packed rows (batch size: config.TABLE)
})
