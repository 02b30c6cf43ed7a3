"""Clothing-SCALE synthetic benchmark: the synthetic HMM at the size of Amazon Clothing (Table 2).

No download: 1.2M users, 376,400 items (100 clusters x 3,764, the nearest multiple of 100 to
Clothing's 376,438) and variable sequence lengths of mean 9 (min 3, Poisson), which is what
Clothing's 1.2M users / ~11M reviews look like after the 5-core style filtering. For timing
the pipeline, training and the sleep phase at that scale (benchmarks/), not for accuracy.

  python launch.py --config=configs/clothing_scale.py:mur_idw
  python benchmarks/train_throughput.py --config=configs/clothing_scale.py:mur_idw

Arg: method[,preset][,tiny], as the other configs. Measured on a 2-core CPU (benchmarks/, shared
host): splits in ~40 s at ~0.9 GB peak RSS without the sampled negatives; one sleep phase
(exact KDE over 376k items) ~150 s. Training packs the short windows into rows
(train.pack_windows): 64 rows per step, 6,704 steps per epoch, 2.6 steps/s and 2.3 GB peak
RSS on 2 loaded cores (~44 min per epoch: an accelerator-sized config). Unpacked, a window
is padded to the longest one and the O((B T)^2) in-batch softmax would pay for every empty
slot (~6 real targets per window).
"""

from __future__ import annotations

from idw_jax.configs.dataset import Dataset

DATASET = Dataset({
    "data.name": "clothing-scale-synthetic",
    "data.source": "synthetic",
    "data.synthetic.num_users": 1_200_000,
    "data.synthetic.num_items": 376_400,
    "data.synthetic.num_clusters": 100,
    "data.synthetic.mean_len": 9.0,
    "data.synthetic.min_len": 3,
    "train.batch_size": 64,      # packed rows (train.pack_windows) of max_len - 2 slots
    "train.pack_windows": True,
    "train.max_epochs": 10,
    "train.steps_per_call": 100,
    "eval.block_users": 512,
    "eval.block_items": 1024,
})
