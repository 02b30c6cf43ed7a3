"""Your own interaction file. Arg: method[,preset][,tiny], e.g. `:mur_idw` or `:sur`.

  python launch.py --config=configs/custom.py:mur_idw --config.data.path=/abs/my.csv

data.path: a CSV (or .tsv, or a RecBole .inter with --config.data.source=recbole) of one event
a row. Defaults, for a file of a few thousand to a few million events:
  - a header naming the columns user, item and timestamp, in any order, other columns ignored
    (--config.data.columns.user=userId ...; --config.data.columns.time=none: no time column,
    file order is time order; --config.data.header=False: columns 0, 1, 2);
    the separator by the extension (.csv ",", .tsv tab; --config.data.delimiter=";");
  - the paper's protocol (Sec. 4.1-4.2): each user's events in time order, windows of 30, the
    last item of each window the test target, the one before it the validation target; 99
    sampled negatives (when the catalogue has more than 100 items) and full-corpus ranking;
  - 32 windows a step (a small file has few windows; the paper's 128 would not fit), Adam 0.01,
    at most 30 epochs with patience 3, the paper's IDW settings (idw_jax.config.TABLE);
  - the file read directly, not through TFDS (data.use_tfds=False: a small file reads in
    well under a second; set True to cache a large one as ArrayRecord).
The run folder defaults to workdirs/custom/<method>-<preset>-seed<seed>; score it on a later
file with `python -m idw_jax.evaluate --workdir=... --data=later.csv`.
"""

from __future__ import annotations

from idw_jax.configs.dataset import Dataset

DATASET = Dataset({
    "data.name": "custom",
    "data.source": "delimited",
    "data.use_tfds": False,
    "train.batch_size": 32,
})
