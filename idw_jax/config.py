"""Configuration: every field with its default, its meaning and its source in the paper.

`base_config()` is the single place where fields are defined; `configs/*.py` pick a dataset
and a method. A field's declaration says what it may hold: `one_of(CHOICES)`, or
`within("[lo, hi)", ...)`; `finalize()` checks every field against it. A field declared with a
type instead of a default (`from_table(bool)`, `within("[1, inf)", int)`, `one_of(CHOICES)`)
depends on the protocol preset (the paper's text or the authors' released code,
docs/design.md) and the dataset: `TABLE` holds its values, one row a field, and `finalize()`
fills it from there, so `--config.preset=authors_code` on the command line behaves like the
config arg, and an explicit field override always wins. `python -m idw_jax.config` prints TABLE.
The method's rules (its M, its item norm; methods.py) and Item Norm's temperature
(`effective_temperature`) apply after it.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import math
import os
from pathlib import Path
from typing import Any

import ml_collections

from idw_jax import config_spec, config_upgrade
from idw_jax import methods as methods_lib
from idw_jax.config_spec import Spec, from_table, one_of, within
from idw_jax.data import formats, protocol

METHODS = methods_lib.NAMES                       # Table 1 rows (idw_jax/methods.py)
IDW_METHODS = tuple(m.name for m in methods_lib.TABLE if m.is_idw)
# The baseline whose whole run is an IDW method's pretraining (same loss, same model).
IDW_BASE = {m.name: m.idw_base for m in methods_lib.TABLE if m.is_idw}
PRESETS = ("paper", "authors_code")               # config.preset (docs/design.md, "Presets")


@dataclasses.dataclass(frozen=True)
class SameAs:
  """A TABLE value that is another field's value; with times > 0, a tuple of that many copies
  of it (the item tower's widths follow model.embed_dim: (d, d))."""
  field: str
  times: int = 0

  def __str__(self):
    return f"= {self.field}" if not self.times else f"= ({self.field},) * {self.times}"

  def resolve(self, c):
    value = _get(c, self.field)
    return (value,) * self.times if self.times else value


# The values the presets and datasets give the fields that `base_config` declares without a
# default: {field: {column: value}}. A column is a preset, "<group>/<preset>" for the datasets
# of DATASET_GROUPS, or "<data.name>/<preset>"; a run takes each field from the most specific
# column that has it (`preset_values`). docs/design.md ("Presets") and the README's Protocol
# table explain the two presets; ML-1M's paper column is the schedule chosen by time to
# accuracy (docs/protocol.md, "The ML-1M schedule"): 16 windows a step, a cosine learning rate
# over each phase's epoch budget (early stopping still applies), 1 epoch per wake phase, 2 for
# calibration. The "amazon" columns are the authors' amazon_review_experiment.yaml (their
# mha/item dropout 0.2 is not modelled here); the paper preset's Amazon batches are packed rows
# (train.pack_windows).
DATASET_GROUPS = {"amazon": ("clothing", "kindle", "clothing-2014-standin")}
TABLE = {
    # Data protocol (Sec. 4.1-4.2).
    "data.protocol.stride": {"paper": SameAs("data.protocol.max_len"), "authors_code": 5},
    "data.protocol.tail_window": {"paper": "remainder", "authors_code": "end_aligned"},
    "data.protocol.train_targets": {"paper": "every_prefix", "authors_code": "last"},
    "data.protocol.negative_sampler": {"paper": "uniform", "authors_code": "popularity"},
    "data.protocol.min_count": {"paper": 0, "authors_code": 5},
    # Model (Sec. 3.1, 4.4). M: unless the method fixes it (methods.py: 1 for sur, sur_idw).
    "model.num_interests": {"paper": 5, "authors_code": 5},
    "model.embed_dim": {"paper": 16, "authors_code": 4, "amazon/authors_code": 8},
    "model.num_layers": {"paper": 2, "authors_code": 1, "amazon/authors_code": 2},
    "model.num_heads": {"paper": 4, "authors_code": 1, "amazon/authors_code": 4},
    # (d, d) of the row above, whatever sets d (authors_code: embedding 4, then Dense(4))
    "model.item_mlp_dims": {"paper": SameAs("model.embed_dim", times=2),
                            "authors_code": SameAs("model.embed_dim", times=2)},
    "model.affinity": {"paper": "mixture", "authors_code": "max"},                  # Eq. 4
    "model.temperature": {"paper": 1.0, "authors_code": 0.01, "amazon/authors_code": 1.0},
    "model.positions": {"paper": True, "authors_code": False},
    "model.embedding_init": {"paper": "default", "authors_code": "uniform_0.1"},
    "model.encoder": {"paper": "pre_ln", "authors_code": "tfrs"},
    "model.interest_pool": {"paper": "plain", "authors_code": "scaled"},
    "model.item_tower": {"paper": "mlp", "authors_code": "tfrs"},
    # Training (Sec. 4.4: Adam, learning rate 0.01, 30 epochs, patience 3). The authors' early
    # stopping (the last validation batch's loss, patience 5) runs all 10 epochs and keeps the
    # last; their windows come in user order, the same batches every epoch; their Adam carries
    # over from pretraining into the wake phases. ML-1M's batch: 16 windows x 27 prefixes = 432
    # candidates a step (paper), their movielens_experiment.yaml (authors_code).
    "train.learning_rate": {"paper": 0.01, "authors_code": 1e-3},
    "train.batch_size": {"paper": 128, "authors_code": 128,
                         "ml1m/paper": 16, "ml1m/authors_code": 512,
                         "clothing/paper": 64, "kindle/paper": 64,
                         "clothing-2014-standin/paper": 32, "amazon/authors_code": 256},
    # ML-1M: a budget; early stopping (patience 3) usually ends first
    "train.max_epochs": {"paper": 30, "authors_code": 10, "ml1m/paper": 32},
    "train.patience": {"paper": 3, "authors_code": 10},
    "train.restore_best": {"paper": True, "authors_code": False},
    "train.shuffle": {"paper": True, "authors_code": False},
    "train.lr_schedule": {"paper": "constant", "authors_code": "constant", "ml1m/paper": "cosine"},
    "train.reset_optimizer": {"paper": True, "authors_code": False},
    # IDW (Sec. 3.3, 4.6.2; Alg. 1 line 6; Eq. 7-9). The authors' KDE is scipy.stats.gaussian_kde
    # on a noisy 10,000-item sample of the training targets; their wake phases stop on
    # max(["5", "10", "20"]) of their flags. ML-1M's m and eta as selected by the search
    # (Sec. 4.4; results/ml1m/idw_search.md: best validation NDCG@20 at seed 0, then run at
    # seeds 0-2), and a cap high enough that eta, not the cap, ends the loop (24-25 wake phases
    # at seeds 0-2).
    "idw.momentum": {"paper": 0.9, "authors_code": 0.8, "ml1m/paper": 0.99},
    "idw.eta": {"paper": 4e-4, "authors_code": 2e-4, "ml1m/paper": 2e-4},
    "idw.max_iterations": {"paper": 8, "authors_code": 5, "ml1m/paper": 32},
    "idw.stopping_norm": {"paper": "l2", "authors_code": "inf"},
    "idw.weighting": {"paper": "relative", "authors_code": "inverse"},
    "idw.kde_sample_size": {"paper": 0, "authors_code": 10_000},     # 0: exact KDE (Eq. 7)
    "idw.kde_noise_std": {"paper": 0.0, "authors_code": 0.1},
    "idw.kde_covariance": {"paper": "isotropic", "authors_code": "full"},
    "idw.weight_support": {"paper": "all", "authors_code": "targets"},
    "idw.wake_max_epochs": {"paper": 10.0, "authors_code": 5.0, "ml1m/paper": 1.0},
    "idw.calibration_max_epochs": {"paper": 10.0, "authors_code": 10.0, "ml1m/paper": 2.0},
    "idw.calibration_lr_scale": {"paper": 1.0, "authors_code": 0.1},
    "idw.wake_patience": {"paper": 3, "authors_code": 1},
    "idw.calibration_patience": {"paper": 3, "authors_code": 1},
    "idw.wake_early_stop_metric": {"paper": "", "authors_code": "tail/HR@5"},
}


def preset_values(data_name: str, preset: str) -> dict[str, Any]:
  """{field: value} of TABLE for one dataset (data.name) under one preset: each row's most
  specific column, "<data.name>/<preset>", then "<group>/<preset>", then "<preset>"."""
  groups = [g for g, names in DATASET_GROUPS.items() if data_name in names]
  columns = [f"{data_name}/{preset}", *(f"{g}/{preset}" for g in groups), preset]
  return {field: next(row[col] for col in columns if col in row) for field, row in TABLE.items()}


def table_markdown() -> str:
  """TABLE as a Markdown table: a row per field, a column per preset or dataset column (blank:
  the preset's value applies)."""
  extra = {col for row in TABLE.values() for col in row} - set(PRESETS)
  columns = [*PRESETS, *sorted(extra, key=lambda col: (col.split("/")[0],
                                                       PRESETS.index(col.split("/")[1])))]
  lines = ["| field | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
  for field, row in TABLE.items():
    cells = [f"`{row[col]!s}`" if row.get(col, "") != "" else '`""`' if col in row else ""
             for col in columns]
    lines.append(f"| `{field}` | " + " | ".join(cells) + " |")
  return "\n".join(lines)


# The tiny run: config arg "tiny" (configs/synthetic.py:mur_idw,tiny), the tests' runs. A run
# small enough to train in seconds, to check the machinery, not the numbers (a smoke preset:
# they may change from one version to the next): two epochs of several jitted calls (so a run
# can stop mid-epoch), one IDW iteration. On a real dataset (tiny_fields) also TINY_REAL.
TINY = {
    "data.synthetic.num_users": 400,
    "train.batch_size": 32,
    "train.max_epochs": 2,
    "train.steps_per_call": 4,
    "idw.max_iterations": 1,
    "idw.wake_max_epochs": 2,
    "idw.calibration_max_epochs": 1,
}
# Tiny on real data (any data.source but "synthetic"): the first 200 users of the file, read
# without a TFDS build (which would convert the whole file beside the workdir).
TINY_REAL = {
    "data.protocol.max_users": 200,
    "data.use_tfds": False,
}
# Its variant for sweeps of many runs (figures --tiny, the grid tests): one epoch a phase, and
# skewed interest clusters so that head and tail differ.
TINY_SWEEP = {
    "data.synthetic.num_users": 300,
    "data.synthetic.cluster_exponent": 2.0,
    "train.batch_size": 32,
    "train.max_epochs": 1,
    "idw.max_iterations": 1,
    "idw.wake_max_epochs": 1,
    "idw.calibration_max_epochs": 1,
}


def tiny_fields(source: str) -> dict[str, Any]:
  """The fields config arg "tiny" sets on a dataset of data.source `source`."""
  return {**TINY, **(TINY_REAL if source != "synthetic" else {})}


def repo_root() -> Path:
  return Path(__file__).resolve().parents[1]


def default_data_root() -> str:
  """$IDW_DATA_DIR, else ../shared/data beside the repository (where CI lays the data)."""
  return os.environ.get("IDW_DATA_DIR", str(repo_root().parent / "shared" / "data"))


def _declared() -> ml_collections.ConfigDict:
  """Every field, as declared: a plain default, or a Spec."""
  c = ml_collections.ConfigDict()
  c.method = "mur_idw"          # one of METHODS (Table 1 rows; methods.get checks it)
  c.preset = one_of(PRESETS, "paper")      # "paper" (default) or "authors_code": see TABLE
  c.seed = 0                    # model init, shuffling; the data seed is data.seed

  c.data = ml_collections.ConfigDict()
  c.data.name = "synthetic"     # a label for results and tables; TABLE's dataset columns
  c.data.source = one_of(("synthetic",) + formats.FORMATS, "synthetic")  # "synthetic" or a
  #                               reader format: movielens, amazon, user_item_timestamp,
  #                               user_sequences, delimited (CSV/TSV), recbole (.inter)
  c.data.root = default_data_root()  # base folder for a relative data.path
  c.data.path = ""              # raw file (absolute, or relative to data.root)
  c.data.use_tfds = True        # real data: build/read through the TFDS builder (array_record)
  c.data.tfds_dir = ""          # TFDS data_dir; "" = <workdir>/../tfds (shared by a grid)
  c.data.seed = 0               # synthetic generator and evaluation negatives
  c.data.delimiter = ""         # delimited: the separator, one character or "tab"; "" = by the
  #                               file name (.csv ",", .tsv tab); idw_jax/data/delimited.py
  c.data.header = True          # delimited: the first row names the columns
  c.data.columns = ml_collections.ConfigDict()   # delimited, recbole: which columns hold the
  #                               events; "" = the default: user, item, timestamp (a header's
  #                               names), user_id, item_id, timestamp (recbole), 0, 1, 2
  #                               (0-based, delimited without a header)
  c.data.columns.user = ""
  c.data.columns.item = ""
  c.data.columns.time = ""      # "none": no time column, each user's events in file order
  c.data.synthetic = ml_collections.ConfigDict()
  s = c.data.synthetic          # Appendix A, Table 3 (+ the authors' generator, docs/design.md)
  s.num_users = 10_000          # |U|
  s.seq_len = 20                # T
  s.num_clusters = within("[1, inf)", 5)   # C
  s.num_items = 50              # |I| (10 items per cluster); a multiple of C
  s.interests_per_user = 3      # draws of Y_u, with replacement (|Y_u| = 1..3)
  s.alpha = within("[0, 1]", 0.6)          # stay in the current interest (alpha + gamma <= 1)
  s.gamma = within("[0, 1]", 0.3)          # switch to another interest of the user
  s.epsilon = within("[0, 1]", 0.1)        # stay in a non-interest cluster
  s.cluster_exponent = 1.0      # power law of the interest distribution (0 = balanced, 2 = skewed)
  s.item_exponent = 0.5         # power law of items within a cluster
  s.mean_len = 0.0              # > 0: variable lengths min_len + Poisson(mean_len - min_len)
  s.min_len = 3                 # shortest sequence when mean_len > 0
  c.data.protocol = ml_collections.ConfigDict()
  p = c.data.protocol           # Sec. 4.1-4.2
  p.split = one_of(protocol.SPLITS, "windows")  # "windows": the paper's (every window's last
  #                               two items are its validation and test targets) |
  #                               "leave_one_out": SASRec's (each user's last item is the test
  #                               target, the one before validation; full-corpus ranking also
  #                               without the user's history); idw_jax/data/protocol.py
  p.max_len = within("[4, inf)", 30)       # window length (leave_one_out: a prediction reads
  #                               at most max_len - 1 items; SASRec's maxlen 200 is 201)
  p.stride = from_table(int)  # window stride, 1..max_len (paper: max_len, i.e. consecutive
  #                               windows | authors_code: 5)
  p.tail_window = one_of(protocol.TAIL_WINDOWS)     # "remainder" | "end_aligned"
  p.train_targets = one_of(protocol.TRAIN_TARGETS)  # "every_prefix" | "last"
  p.num_negatives = within("[0, inf)", 99)  # sampled evaluation negatives per user
  p.negative_sampler = one_of(protocol.NEGATIVE_SAMPLERS)  # "uniform" | "popularity"
  p.min_count = from_table(int)  # drop users/items with fewer events (0 = off)
  p.head_fraction = within("(0, 1)", 0.2)  # head = top 20% training targets (Pareto, Sec. 4.2)
  p.max_users = within("[0, inf)", 0)  # > 0: only the first this many users (small runs;
  #                               before min_count)

  c.model = ml_collections.ConfigDict()
  m = c.model                   # Sec. 3.1, 4.4
  m.num_interests = within("[1, inf)", int)  # M: 1 for sur*, 5 otherwise
  m.embed_dim = within("[1, inf)", int)      # d
  m.num_layers = from_table(int)  # encoder layers
  m.num_heads = within("[1, inf)", int)      # attention heads per layer; they divide d
  m.mlp_ratio = 4               # encoder feed-forward width / d (not in the paper)
  m.dropout = within("[0, 1)", 0.0)  # user tower, training only: after the embeddings, on
  #                               the attention weights and in the feed-forward block (SASRec's
  #                               0.2; not in the paper)
  m.item_mlp_dims = from_table(tuple)  # item tower widths; the last equals d (unset: (d, d),
  #                               so model.embed_dim alone sets both)
  m.affinity = one_of(("mixture", "max"))   # "mixture" (Eq. 4) | "max" (affinity.AFFINITIES)
  m.temperature = within("(0, inf)", float)  # logits / temperature (for Item Norm:
  #                               effective_temperature)
  m.item_norm = one_of(methods_lib.ITEM_NORMS, "none")  # "none" | "train_eval" (Item Norm) |
  #                               "eval" (post-hoc); the item norm methods set their own
  m.positions = from_table(bool)  # learned position embeddings in the user tower
  m.embedding_init = one_of(("default", "keras_uniform", "uniform_0.1"))  # "default" (Flax) |
  #                               "keras_uniform" U(-0.05, 0.05) | "uniform_0.1" U(-0.1, 0.1)
  #                               (the authors'); models.EMBEDDING_INITS
  m.encoder = one_of(("pre_ln", "tfrs"))    # "pre_ln": causal pre-LN transformer with
  #                               FFN | "tfrs": the authors' (x + ELU(MHA(x)), no LayerNorm/FFN,
  #                               attention both ways within the prefix: needs
  #                               data.protocol.train_targets="last"); idw_jax/models.py
  m.interest_pool = one_of(("plain", "scaled"))  # "plain": queries N(0, 1/d) | "scaled":
  #                               queries U(-0.05, 0.05) with a learned scale (Keras Attention)
  m.item_tower = one_of(("mlp", "tfrs"))    # "mlp" (embedding + bias, ReLU, Dense...) |
  #                               "tfrs": sqrt(d) x embedding, then linear Dense (the authors')

  c.loss = ml_collections.ConfigDict()
  c.loss.use_logq = True        # logQ correction, Eq. 2
  c.loss.remove_accidental_hits = False  # mask in-batch copies of the positive (TFRS option)
  c.loss.focal_gamma = 2.0      # Focal balance (Lin et al.)
  c.loss.qmargin_max = 0.5      # Qmargin: largest LDAM margin, delta_y ~ n_y^(-1/4)
  c.loss.item_norm_temperature = 0.1  # Item Norm's temperature where model.temperature is
  #                               1.0 (effective_temperature); not a paper value

  c.train = ml_collections.ConfigDict()
  t = c.train
  t.learning_rate = within("(0, inf)", float)  # Adam (Sec. 4.4: 0.01)
  t.batch_size = within("[1, inf)", int)   # windows per step (TABLE: 128, or the dataset's);
  #                               every prefix of each is an example
  t.pack_windows = False        # every-prefix training only: pack several windows' training
                                # parts into each row (batch_size then counts rows of
                                # max_len - 2 slots); the same examples and user
                                # representations, far fewer padded slots on short-sequence
                                # data (idw_jax/packing.py). No effect with one target/window.
  t.softmax_groups = within("[1, inf)", 1)  # split each batch into this many groups of
  #                               batch_size / G windows (rows when packed; G divides it), each
  #                               an in-batch softmax over its own targets only, one Adam step
  #                               on their mean: the negatives of a batch of B / G at the step
  #                               count of B
  t.compact_targets = False     # every-prefix training on one device: the loss keeps only
  #                               the batch's real targets (padded slots of short windows
  #                               dropped before the [N, C] logit block; rows sized from the
  #                               data: idw_jax.train.epoch_capacity); same loss up to
  #                               float rounding, 16% faster epochs at SASRec's ML-1M
  #                               settings (docs/performance.md)
  t.max_epochs = within("[1, inf)", int)   # pretraining epochs at most
  t.patience = within("[1, inf)", int)     # early stopping in pretraining: epochs
  #                               without a gain in validation (eval.early_stop_metric); wake
  #                               phases and calibration: idw.wake_patience, calibration_patience
  t.valid_every = within("[1, inf)", 1)    # validate after every k-th epoch of a training
  #                               phase and after its last (1: every epoch). Patience still
  #                               counts epochs, checked at validations (k >= patience: the
  #                               first validation without a gain ends the phase); best-epoch
  #                               restore picks among validated epochs. Saves validation time.
  t.restore_best = from_table(bool)  # a phase ends with its best epoch's parameters (else its last)
  t.shuffle = from_table(bool)  # a new window order every epoch (else the data's order, user
  #                               by user, every epoch)
  t.lr_schedule = one_of(("constant", "cosine"))  # per phase: "constant" (the peak
  #                               throughout) or "cosine" (linear warm-up, cosine decay over the
  #                               phase's epoch budget: train.max_epochs, idw.wake_max_epochs, ...)
  t.warmup_fraction = within("[0, 1)", 0.05)  # cosine: warm-up steps as a fraction of the
  #                               phase's budget
  t.final_lr_fraction = within("[0, 1]", 0.0)  # cosine: the rate at the end of the budget,
  #                               x the peak
  t.steps_per_call = within("[1, inf)", 50)  # training steps fused into one jitted call
  #                               (progress granularity)
  t.reset_optimizer = from_table(bool)  # fresh Adam at the start of every phase (calibration
  #                               always starts a fresh one)

  c.idw = ml_collections.ConfigDict()
  i = c.idw                     # Sec. 3.3, Alg. 1-2
  i.momentum = within("[0, 1]", float)    # m in Eq. 9
  i.eta = within("[0, inf)", float)       # stopping threshold on ||w(t+1) - w(t)||
  i.max_iterations = within("[0, inf)", int)  # at most this many wake phases
  i.stopping_norm = one_of(("l2", "inf"))  # "l2" | "inf" (density.weight_change)
  i.weighting = one_of(("relative", "inverse"))  # "relative" (h = 1 - p') | "inverse" (1/p)
  #                               (density.WEIGHTINGS)
  i.kde_sample_size = within("[0, inf)", int)  # 0 = exact over all items
  i.kde_noise_std = from_table(float)  # std of N(0, s^2) noise added to the KDE sample's
  #                               embeddings (the authors' 0.1; paper 0)
  i.kde_covariance = one_of(("isotropic", "full"))  # kernel: "isotropic" (Scott's bandwidth
  #                               on the mean per-dimension std) | "full" (scipy's gaussian_kde:
  #                               the weighted covariance, Scott's factor of the effective n);
  #                               density.COVARIANCES
  i.weight_support = one_of(("all", "targets"))  # items that get weight: "all" | "targets"
  #                               (training targets only; the KDE sample is drawn from them)
  i.example_weight = one_of(("share", "literal"), "share")  # "share": e_y ~ w_y / p(y) |
  #                               "literal": e_y ~ w_y (losses.example_weights)
  i.wake_max_epochs = within("(0, inf)", float)  # epochs per wake phase (fractions allowed)
  i.validate_wakes = True       # False: wake phases (of one epoch at most: nothing to choose
  #                               within them) skip validation, and the IDW trace rows after
  #                               them have none; saves one validation per IDW iteration
  i.calibrate = True            # user-tower calibration (Sec. 3.3)
  i.calibration_max_epochs = within("(0, inf)", float)  # epochs (fractions allowed)
  i.calibration_lr_scale = from_table(float)  # calibration's learning rate is
  #                               train.learning_rate times this (authors' 0.1; paper 1)
  i.wake_patience = within("[1, inf)", int)  # early stopping in a wake phase
  i.calibration_patience = within("[1, inf)", int)  # early stopping in calibration
  i.wake_early_stop_metric = from_table(str)  # a wake phase's early stopping on
  #                               "[split/]metric" of validation ("" = eval.early_stop_metric
  #                               overall; the authors': "tail/HR@5")
  i.kde_block = within("[0, inf)", 0)  # KDE tile size, queries and items (0 = the backend's
  #                               default tiles: density.default_blocks)
  i.kde_impl = one_of(("xla", "pallas"), "xla")  # "xla" (blocked, the reference) | "pallas"
  #                               (fused Triton kernel, GPUs only); density.IMPLS less its
  #                               test-only interpreter
  i.pretrained_workdir = ""     # workdir of a finished run of the base method (mur for mur_idw,
                                # sur for sur_idw) with the same config and seed: its state after
                                # pretraining is this run's (bit-identical; the grid fills it in)

  c.eval = ml_collections.ConfigDict()
  c.eval.ks = (5, 20)           # HR@K and NDCG@K (Sec. 4.2, App. B)
  c.eval.early_stop_metric = "NDCG@20"  # validation metric of early stopping and selection
  c.eval.block_users = 512      # full-corpus ranking tiles (fastest on CPU: benchmarks/eval.py)
  c.eval.block_items = 1024     # and its item tiles

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.keep = within("[1, inf)", 2)  # the latest k checkpoints are kept
  c.checkpoint.every_steps = 0  # > 0: also checkpoint inside an epoch every this many steps

  c.distributed = ml_collections.ConfigDict()
  c.distributed.initialize = False  # call jax.distributed.initialize() (multi-host)
  c.distributed.coordinator_address = ""  # "host:port" of process 0; "" = auto-detect (TPU, SLURM)
  c.distributed.num_processes = 0   # 0 = auto-detect
  c.distributed.process_id = -1     # -1 = auto-detect

  c.debug = ml_collections.ConfigDict()
  c.debug.exit_after_save = -1  # testing: hard-exit right after the k-th checkpoint save
  c.debug.exit_during_save = False  # testing: exit while that save is still being written
  return c


def base_config() -> ml_collections.ConfigDict:
  """All fields and their defaults (the synthetic benchmark, paper preset, MUR-IDW); the fields
  TABLE fills are None (typed placeholders) until `finalize`."""
  return config_spec.defaults(_declared())


@functools.cache
def specs() -> dict[str, Spec]:
  """{dotted field: its Spec}, for every field declared with one."""
  return config_spec.specs(_declared())


def backfill(saved: dict) -> dict:
  """A stored config dict (results.json, checkpoint) with the fields added since it was written
  set to the values that keep the old behaviour (config_upgrade.upgrade): runs made before a
  field existed stay cached and resumable."""
  return config_upgrade.upgrade(saved, base_config().to_dict())


def _get(c, dotted):
  for part in dotted.split("."):
    c = c[part]
  return c


def parse_value(text: str) -> Any:
  """A command-line value: a Python literal (1, 0.5, True, (16, 16)) or else the string."""
  low = text.strip().lower()
  if low in ("true", "false"):
    return low == "true"
  try:
    return ast.literal_eval(text.strip())
  except (ValueError, SyntaxError):
    return text.strip()


def set_field(cfg, dotted: str, value: Any):
  """cfg.<dotted> = value, with ints widened to float fields; an unknown field is an error."""
  *parents, leaf = dotted.split(".")
  node = cfg
  for part in parents:
    if part not in node:
      raise KeyError(f"config has no field {dotted!r}")
    node = node[part]
  if leaf not in node:
    raise KeyError(f"config has no field {dotted!r}")
  field_type = node.get_type(leaf)
  if field_type is float and isinstance(value, int) and not isinstance(value, bool):
    value = float(value)
  if field_type is tuple and isinstance(value, list):
    value = tuple(value)
  try:
    node[leaf] = value
  except TypeError as e:   # ml_collections' type check, as one line naming the field
    raise ValueError(f"config.{dotted}: {value!r} is not of type {field_type.__name__}") from e


def _set(c, dotted, value):
  set_field(c, dotted, value)


def effective_temperature(c) -> float:
  """The softmax temperature a run trains and ranks with; `finalize` stores it in
  model.temperature, so a resolved config holds the one in effect.

  Item Norm (model.item_norm="train_eval") scores unit-norm item embeddings, whose logits need a
  lower temperature than the unnormalised model's. So when model.item_norm is "train_eval" AND
  model.temperature is exactly 1.0 (the paper preset's and the authors' Amazon value, or an
  explicit 1.0), the run uses loss.item_norm_temperature (0.1) instead. Every other
  model.temperature (the authors_code preset's 0.01, --config.model.temperature=0.5) is kept,
  and "none" and post-hoc "eval" (whose training is the plain model's) always keep it. To train
  Item Norm at temperature 1.0, set loss.item_norm_temperature=1.0.
  """
  if c.model.item_norm == "train_eval" and c.model.temperature == 1.0:
    return c.loss.item_norm_temperature
  return c.model.temperature


def finalize(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Resolved, validated copy: the method's M, TABLE's values for the fields still None, the
  method's item norm and its temperature; an impossible value is an error naming its field."""
  c = ml_collections.ConfigDict(config.to_dict())
  method = methods_lib.get(c.method)
  specs()["preset"].check("preset", c.preset)      # before TABLE is read
  if c.model.num_interests is None and method.num_interests is not None:
    c.model.num_interests = method.num_interests
  for field, value in preset_values(c.data.name, c.preset).items():
    if _get(c, field) is None:
      _set(c, field, value.resolve(c) if isinstance(value, SameAs) else value)
  if method.num_interests is not None and c.model.num_interests != method.num_interests:
    raise ValueError(f"config.model.num_interests must be {method.num_interests} for method "
                     f"{c.method!r}")
  if method.item_norm != "none":
    c.model.item_norm = method.item_norm
  c.model.temperature = effective_temperature(c)
  try:
    c.model.item_mlp_dims = tuple(int(x) for x in c.model.item_mlp_dims)
  except (TypeError, ValueError) as e:
    raise ValueError(f"config.model.item_mlp_dims: must be integer widths, e.g. (16, 16), "
                     f"got {c.model.item_mlp_dims!r}") from e
  for field, value in _numbers(c.to_dict()):   # inf or nan in no field means anything
    _check(math.isfinite(value), field, f"must be a finite number, got {value}")
  for field, spec in specs().items():
    spec.check(field, _get(c, field))
  _check_relations(c)
  return c


def _numbers(d: dict, prefix: str = ""):
  """(dotted field, float) of every float in a config dict, those in tuples included."""
  for key, value in d.items():
    if isinstance(value, dict):
      yield from _numbers(value, f"{prefix}{key}.")
      continue
    for x in value if isinstance(value, (tuple, list)) else (value,):
      if isinstance(x, float):
        yield f"{prefix}{key}", x


def parse_split_metric(spec: str) -> tuple[str, str] | None:
  """"[overall|head|tail/]NAME" -> (split, NAME), the split "overall" when none is named;
  None for "" (a phase that watches eval.early_stop_metric)."""
  if not spec:
    return None
  split, _, name = spec.rpartition("/")
  return split or "overall", name


def _check(ok: bool, field: str, msg: str):
  if not ok:
    raise ValueError(f"config.{field}: {msg}")


def _check_relations(c):
  """The constraints between fields (each field alone is checked by its Spec)."""
  m, t, i, p, s = c.model, c.train, c.idw, c.data.protocol, c.data.synthetic
  _check(m.embed_dim % m.num_heads == 0, "model.num_heads",
         f"must divide model.embed_dim={m.embed_dim}, got {m.num_heads}")
  _check(len(m.item_mlp_dims) >= 1 and m.item_mlp_dims[-1] == m.embed_dim, "model.item_mlp_dims",
         f"last width must equal model.embed_dim={m.embed_dim}, got {m.item_mlp_dims}")
  _check(m.encoder != "tfrs" or p.train_targets == "last", "model.encoder",
         "'tfrs' attends both ways within a prefix, so it needs "
         "data.protocol.train_targets='last' (one target per window)")
  _check(m.encoder != "tfrs" or not m.positions, "model.encoder",
         "'tfrs' has no position embeddings (the authors' towers); set model.positions=False")
  _check(t.batch_size % t.softmax_groups == 0, "train.softmax_groups",
         f"must divide train.batch_size={t.batch_size}, got {t.softmax_groups}")
  metrics = {f"{n}@{k}" for n in ("HR", "NDCG") for k in c.eval.ks}
  split, name = parse_split_metric(i.wake_early_stop_metric) or ("overall", "")
  _check(i.wake_early_stop_metric == "" or (split in ("overall", "head", "tail") and
                                            name in metrics),
         "idw.wake_early_stop_metric", "must be '' or [overall|head|tail/]HR@K or NDCG@K with K "
         f"in eval.ks, got {i.wake_early_stop_metric!r}")
  _check(i.validate_wakes or i.wake_max_epochs <= 1, "idw.validate_wakes",
         f"False needs idw.wake_max_epochs <= 1 (got {i.wake_max_epochs}): a longer wake phase "
         "chooses its best epoch by validation")
  _check(not i.pretrained_workdir or c.method in IDW_METHODS, "idw.pretrained_workdir",
         f"only IDW methods {IDW_METHODS} reuse a pretraining, not {c.method!r}")
  _check(1 <= p.stride <= p.max_len, "data.protocol.stride",
         f"must be in 1..data.protocol.max_len={p.max_len}, got {p.stride}")
  _check(set(c.eval.ks) and all(k >= 1 for k in c.eval.ks), "eval.ks", f"bad {c.eval.ks}")
  _check(c.eval.early_stop_metric in metrics, "eval.early_stop_metric",
         f"must be HR@K or NDCG@K with K in eval.ks, got {c.eval.early_stop_metric!r}")
  if c.data.source == "synthetic":
    _check(s.num_items % s.num_clusters == 0, "data.synthetic.num_items",
           f"must be a multiple of num_clusters={s.num_clusters}, got {s.num_items}")
    _check(s.alpha + s.gamma <= 1, "data.synthetic.alpha",
           f"alpha + gamma must be <= 1, got {s.alpha}, {s.gamma}")
  else:
    _check(bool(c.data.path), "data.path", "must name the raw data file for a real dataset")
    d = c.data.delimiter
    _check(len(d) <= 1 or d in ("tab", "\\t"), "data.delimiter",
           f"must be one character, 'tab' or '' (by the file name), got {d!r}")


def get_config_for(dataset_defaults: dict, arg: str | None) -> ml_collections.ConfigDict:
  """Shared body of configs/*.py: arg = "method[,preset][,tiny]" (e.g. "mur_idw,authors_code";
  "tiny" applies tiny_fields of the dataset's data.source)."""
  c = base_config()
  for field, value in dataset_defaults.items():
    _set(c, field, value)
  if arg:
    parts = [a.strip() for a in arg.split(",") if a.strip()]
    for part in parts:
      if part in METHODS:
        c.method = part
      elif part in PRESETS:
        c.preset = part
      elif part == "tiny":
        for field, value in tiny_fields(c.data.source).items():
          _set(c, field, value)
      else:
        raise ValueError(f"config arg {part!r} is neither a method {METHODS}, a preset "
                         f"{PRESETS} nor 'tiny'")
  return c


if __name__ == "__main__":
  print(table_markdown())
