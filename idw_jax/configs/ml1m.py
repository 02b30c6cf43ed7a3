"""MovieLens-1M (Table 1, 2, 4). Arg: method[,preset][,tiny], e.g. `:mur_idw` or
`:mur,authors_code`.

data.path points at either the GroupLens `ratings.dat` (data.source=movielens; published at
https://grouplens.org/datasets/movielens/1m/) or a time-ordered `user item item ...` file
(data.source=user_sequences), relative to data.root ($IDW_DATA_DIR or ../shared/data).
Batch size and training schedule per preset: the ml1m columns of `idw_jax.config.TABLE`
(`python -m idw_jax.config` prints it).

`tiny`: a smoke run of seconds on the file's first 200 users (idw_jax.config.TINY, TINY_REAL);
its numbers check the machinery, are not results, and may change between versions.
"""

from __future__ import annotations

from idw_jax.configs.dataset import Dataset

DATASET = Dataset({
    "data.name": "ml1m",
    "data.source": "user_sequences",
    "data.path": "ml-1m/ml-1m_user_sequences.txt.gz",
})
