"""MovieLens-1M under SASRec's leave-one-out protocol. Arg: method[,preset][,sasrec][,tiny].

  python launch.py --config=configs/ml1m_loo.py:sur,sasrec     # SUR at SASRec's settings
  python launch.py --config=configs/ml1m_loo.py:mur_idw        # the paper's model and schedule

The protocol of SASRec (W.-C. Kang and J. McAuley, Self-Attentive Sequential Recommendation,
ICDM 2018), where the field's ML-1M numbers line up: items with fewer than 5 events dropped
(6,040 users, 3,416 items, 999,611 actions), each user's last item the test target, the one
before it the validation target, the rest training (`data.protocol.split="leave_one_out"`,
idw_jax/data/protocol.py). Reported: HR@10 / NDCG@10 of the target against 100 negatives drawn
uniformly from the items the user never interacted with (SASRec's metric; fixed by data.seed),
and of the full-corpus ranking with ("full") and without ("full_no_history") the user's
earlier items. Early stopping watches validation NDCG@10 of the sampled ranking.

Without `sasrec`: the paper preset's model and ML-1M schedule (idw_jax.config TABLE, ml1m
columns: batch 16, cosine over 32 epochs), each user's training part cut into windows of 30
(data.protocol.max_len; evaluation reads the last 29 items before the target).

`sasrec`: SASRec's settings for ML-1M: d = 50, 2 blocks of 1 head with a d-wide feed-forward
layer, max length 200 (a window of 201: 200 inputs, each predicting the next item), dropout 0.2,
Adam at 1e-3 (constant), batch 128 windows, at most 200 epochs (SASRec trains 200). What stays
ours: the two towers (SASRec shares one item embedding between input and output; here the item
tower is separate), the pre-LN blocks with GELU and the interest pooling, and above all the
loss: an in-batch softmax over the batch's targets with the logQ correction (Eq. 1-2), where
SASRec trains a binary cross-entropy of each target against one random negative; and early
stopping on validation (patience 10) where SASRec reports its last epoch.

`tiny`: the first 100 users, windows of 21, two epochs of batch 32: seconds, for tests (a smoke
run: its numbers may change between versions; idw_jax.config.TINY).
"""

from __future__ import annotations

from idw_jax.configs.dataset import Dataset

SASREC = {
    "model.embed_dim": 50,
    "model.item_mlp_dims": (50, 50),
    "model.num_layers": 2,
    "model.num_heads": 1,
    "model.mlp_ratio": 1,              # SASRec's point-wise feed-forward: d -> d -> d
    "model.dropout": 0.2,
    "data.protocol.max_len": 201,      # SASRec's maxlen = 200 inputs
    "train.learning_rate": 1e-3,
    "train.batch_size": 128,
    "train.lr_schedule": "constant",
    "train.max_epochs": 200,
    "train.patience": 10,
}
TINY_LOO = {
    "data.protocol.max_users": 100,
    "data.protocol.max_len": 21,
    "data.use_tfds": False,
}

DATASET = Dataset({
    "data.name": "ml1m",
    "data.source": "user_sequences",
    "data.path": "ml-1m/ml-1m_user_sequences.txt.gz",
    "data.protocol.split": "leave_one_out",
    "data.protocol.min_count": 5,
    "data.protocol.num_negatives": 100,
    "data.protocol.negative_sampler": "uniform",
    "eval.ks": (5, 10, 20),
    "eval.early_stop_metric": "NDCG@10",
}, variants={"sasrec": SASREC}, tiny=TINY_LOO)
