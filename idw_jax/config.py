"""Configuration: every field with its default, its meaning and its source in the paper.

`base_config()` is the single place where fields are defined; `configs/*.py` pick a dataset
and a method. Fields that depend on the method (e.g. M) or on the protocol preset (the
paper's text vs the authors' released code, docs/design.md) are placeholders (None) until
`finalize()` fills them, so `--config.method=focal` or `--config.preset=authors_code` on
the command line behaves like the config arg, and an explicit field override always wins.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import ml_collections
from ml_collections import config_dict

from idw_jax import methods as methods_lib

METHODS = methods_lib.NAMES                       # Table 1 rows (idw_jax/methods.py)
IDW_METHODS = tuple(m.name for m in methods_lib.TABLE if m.is_idw)
# The baseline whose whole run is an IDW method's pretraining (same loss, same model).
IDW_BASE = {m.name: m.idw_base for m in methods_lib.TABLE if m.is_idw}

# Preset-dependent fields (docs/design.md, "Presets"; the README's Protocol table).
PRESETS = {
    "paper": {
        "model.affinity": "mixture",               # Eq. 4
        "model.embed_dim": 16,                     # Sec. 4.4
        "model.num_layers": 2,
        "model.num_heads": 4,
        "model.item_mlp_dims": (16, 16),
        "model.temperature": 1.0,
        "model.positions": True,
        "model.embedding_init": "default",
        "model.encoder": "pre_ln",
        "model.interest_pool": "plain",
        "model.item_tower": "mlp",
        "train.learning_rate": 0.01,               # Sec. 4.4
        "train.max_epochs": 30,
        "train.patience": 3,
        "train.restore_best": True,
        "train.shuffle": True,
        "train.lr_schedule": "constant",
        "idw.wake_max_epochs": 10.0,
        "idw.calibration_max_epochs": 10.0,
        "data.protocol.tail_window": "remainder",
        "data.protocol.train_targets": "every_prefix",
        "data.protocol.negative_sampler": "uniform",  # Sec. 4.2
        "data.protocol.min_count": 0,
        "idw.momentum": 0.9,                       # Sec. 4.6.2
        "idw.eta": 4e-4,
        "idw.max_iterations": 8,
        "idw.stopping_norm": "l2",                 # Alg. 1 line 6
        "idw.weighting": "relative",               # Eq. 8-9
        "idw.kde_sample_size": 0,                  # exact KDE over all items (Eq. 7)
        "idw.kde_noise_std": 0.0,
        "idw.kde_covariance": "isotropic",
        "idw.weight_support": "all",
        "idw.wake_patience": 3,
        "idw.calibration_patience": 3,
        "idw.wake_early_stop_metric": "",
        "train.reset_optimizer": True,
        "idw.calibration_lr_scale": 1.0,
    },
    "authors_code": {
        "model.affinity": "max",
        "model.embed_dim": 4,
        "model.num_layers": 1,
        "model.num_heads": 1,
        "model.item_mlp_dims": (4, 4),             # embedding 4, then Dense(4)
        "model.temperature": 0.01,
        "model.positions": False,
        "model.embedding_init": "uniform_0.1",
        "model.encoder": "tfrs",
        "model.interest_pool": "scaled",
        "model.item_tower": "tfrs",
        "train.learning_rate": 1e-3,
        "train.max_epochs": 10,
        "train.patience": 10,        # their early stopping (the last validation batch's loss,
        "train.restore_best": False,  # patience 5) runs all 10 epochs and keeps the last
        "train.shuffle": False,      # windows in user order, the same batches every epoch
        "train.lr_schedule": "constant",
        "idw.wake_max_epochs": 5.0,
        "idw.calibration_max_epochs": 10.0,
        "data.protocol.stride": 5,
        "data.protocol.tail_window": "end_aligned",
        "data.protocol.train_targets": "last",
        "data.protocol.negative_sampler": "popularity",
        "data.protocol.min_count": 5,
        "idw.momentum": 0.8,
        "idw.eta": 2e-4,
        "idw.max_iterations": 5,
        "idw.stopping_norm": "inf",
        "idw.weighting": "inverse",
        "idw.kde_sample_size": 10_000,
        "idw.kde_noise_std": 0.1,
        "idw.kde_covariance": "full",             # scipy.stats.gaussian_kde
        "idw.weight_support": "targets",
        "idw.wake_patience": 1,
        "idw.calibration_patience": 1,
        "idw.wake_early_stop_metric": "tail/HR@5",  # max(["5", "10", "20"]) in their flags
        "train.reset_optimizer": False,           # Adam carries over pretraining -> wakes
        "idw.calibration_lr_scale": 0.1,
    },
}


# Per-dataset preset values (keyed by data.name), measured for that dataset; they fill fields
# still unset before PRESETS does. ML-1M's paper preset uses the schedule chosen by time to
# accuracy (docs/protocol.md, "The ML-1M schedule"): 16 windows a step, a cosine learning rate over each phase's
# epoch budget (early stopping still applies), 1 epoch per wake phase, 2 for calibration.
DATASET_PRESETS = {
    "ml1m": {
        "paper": {
            "train.batch_size": 16,        # 16 windows x 27 prefixes = 432 candidates a step
            "train.lr_schedule": "cosine",
            "train.max_epochs": 32,        # a budget; early stopping (patience 3) usually ends first
            "idw.wake_max_epochs": 1.0,
            "idw.calibration_max_epochs": 2.0,
            # IDW's m and eta as selected by the search (Sec. 4.4; results/ml1m/idw_search.md:
            # best validation NDCG@20 at seed 0, then run at seeds 0-2), and a cap high enough
            # that eta, not the cap, ends the loop (24-25 wake phases at seeds 0-2).
            "idw.momentum": 0.99,
            "idw.eta": 2e-4,
            "idw.max_iterations": 32,
        },
        "authors_code": {"train.batch_size": 512},   # their movielens_experiment.yaml
    },
}
# The authors' amazon_review_experiment.yaml (their Amazon runs): d 8, 2 layers x 4 heads,
# temperature 1, 256 windows a step (their mha/item dropout 0.2 is not modelled here). The
# paper preset's Amazon batches are packed rows (train.pack_windows).
_AUTHORS_AMAZON = {"model.embed_dim": 8, "model.item_mlp_dims": (8, 8), "model.num_layers": 2,
                   "model.num_heads": 4, "model.temperature": 1.0, "train.batch_size": 256}
for _name, _rows in (("clothing", 64), ("kindle", 64), ("clothing-2014-standin", 32)):
  DATASET_PRESETS[_name] = {"paper": {"train.batch_size": _rows}, "authors_code": _AUTHORS_AMAZON}


# The tiny run: config arg "tiny" (configs/synthetic.py:mur_idw,tiny), the tests' runs. A
# synthetic run small enough to train in seconds, to check the machinery, not the numbers: two
# epochs of several jitted calls (so a run can stop mid-epoch), one IDW iteration.
TINY = {
    "data.synthetic.num_users": 400,
    "train.batch_size": 32,
    "train.max_epochs": 2,
    "train.steps_per_call": 4,
    "idw.max_iterations": 1,
    "idw.wake_max_epochs": 2,
    "idw.calibration_max_epochs": 1,
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


def repo_root() -> Path:
  return Path(__file__).resolve().parents[1]


def default_data_root() -> str:
  """$IDW_DATA_DIR, else ../shared/data beside the repository (where CI lays the data)."""
  return os.environ.get("IDW_DATA_DIR", str(repo_root().parent / "shared" / "data"))


def base_config() -> ml_collections.ConfigDict:
  """All fields and their defaults (the synthetic benchmark, paper preset, MUR-IDW)."""
  c = ml_collections.ConfigDict()
  c.method = "mur_idw"          # one of METHODS (Table 1 rows)
  c.preset = "paper"            # "paper" (default) or "authors_code": see PRESETS / docs/design.md
  c.seed = 0                    # model init, shuffling; the data seed is data.seed

  c.data = ml_collections.ConfigDict()
  c.data.name = "synthetic"     # a label for results and tables
  c.data.source = "synthetic"   # "synthetic" or a reader format: movielens, amazon,
  #                               user_item_timestamp, user_sequences
  c.data.root = default_data_root()  # base folder for a relative data.path
  c.data.path = ""              # raw file (absolute, or relative to data.root)
  c.data.use_tfds = True        # real data: build/read through the TFDS builder (array_record)
  c.data.tfds_dir = ""          # TFDS data_dir; "" = <workdir>/../tfds (shared by a grid)
  c.data.seed = 0               # synthetic generator and evaluation negatives
  c.data.synthetic = ml_collections.ConfigDict()
  s = c.data.synthetic          # Appendix A, Table 3 (+ the authors' generator, docs/design.md)
  s.num_users = 10_000          # |U|
  s.seq_len = 20                # T
  s.num_clusters = 5            # C
  s.num_items = 50              # |I| (10 items per cluster)
  s.interests_per_user = 3      # draws of Y_u, with replacement (|Y_u| = 1..3)
  s.alpha = 0.6                 # stay in the current interest
  s.gamma = 0.3                 # switch to another interest of the user
  s.epsilon = 0.1               # stay in a non-interest cluster
  s.cluster_exponent = 1.0      # power law of the interest distribution (0 = balanced, 2 = skewed)
  s.item_exponent = 0.5         # power law of items within a cluster
  s.mean_len = 0.0              # > 0: variable lengths min_len + Poisson(mean_len - min_len)
  s.min_len = 3                 # shortest sequence when mean_len > 0
  c.data.protocol = ml_collections.ConfigDict()
  p = c.data.protocol           # Sec. 4.1-4.2
  p.max_len = 30                # window length
  p.stride = config_dict.placeholder(int)          # window stride (paper: max_len, i.e.
  #                               consecutive windows | authors_code: 5)
  p.tail_window = config_dict.placeholder(str)     # "remainder" | "end_aligned"
  p.train_targets = config_dict.placeholder(str)   # "every_prefix" | "last"
  p.num_negatives = 99          # sampled evaluation negatives per user
  p.negative_sampler = config_dict.placeholder(str)  # "uniform" | "popularity"
  p.min_count = config_dict.placeholder(int)       # drop users/items with fewer events (0 = off)
  p.head_fraction = 0.2         # head = top 20% training targets (Pareto, Sec. 4.2)

  c.model = ml_collections.ConfigDict()
  m = c.model                   # Sec. 3.1, 4.4
  m.num_interests = config_dict.placeholder(int)   # M: 1 for sur*, 5 otherwise
  m.embed_dim = config_dict.placeholder(int)       # d
  m.num_layers = config_dict.placeholder(int)      # encoder layers
  m.num_heads = config_dict.placeholder(int)       # attention heads per layer
  m.mlp_ratio = 4               # encoder feed-forward width / d (not in the paper)
  m.item_mlp_dims = config_dict.placeholder(tuple)  # item tower widths; the last equals d
  m.affinity = config_dict.placeholder(str)        # "mixture" (Eq. 4) | "max"
  m.temperature = config_dict.placeholder(float)   # logits / temperature
  m.item_norm = "none"          # "none" | "train_eval" (Item Norm) | "eval" (post-hoc)
  m.positions = config_dict.placeholder(bool)      # learned position embeddings in the user tower
  m.embedding_init = config_dict.placeholder(str)  # "default" (Flax) | "keras_uniform"
  #                               U(-0.05, 0.05) | "uniform_0.1" U(-0.1, 0.1) (the authors')
  m.encoder = config_dict.placeholder(str)         # "pre_ln": causal pre-LN transformer with
  #                               FFN | "tfrs": the authors' (x + ELU(MHA(x)), no LayerNorm/FFN,
  #                               attention both ways within the prefix: needs
  #                               data.protocol.train_targets="last"); idw_jax/models.py
  m.interest_pool = config_dict.placeholder(str)   # "plain": queries N(0, 1/d) | "scaled":
  #                               queries U(-0.05, 0.05) with a learned scale (Keras Attention)
  m.item_tower = config_dict.placeholder(str)      # "mlp" (embedding + bias, ReLU, Dense...) |
  #                               "tfrs": sqrt(d) x embedding, then linear Dense (the authors')

  c.loss = ml_collections.ConfigDict()
  c.loss.use_logq = True        # logQ correction, Eq. 2
  c.loss.remove_accidental_hits = False  # mask in-batch copies of the positive (TFRS option)
  c.loss.focal_gamma = 2.0      # Focal balance (Lin et al.)
  c.loss.qmargin_max = 0.5      # Qmargin: largest LDAM margin, delta_y ~ n_y^(-1/4)
  c.loss.item_norm_temperature = 0.1  # temperature used by item_norm / item_norm_posthoc training

  c.train = ml_collections.ConfigDict()
  t = c.train
  t.learning_rate = config_dict.placeholder(float)  # Adam (Sec. 4.4: 0.01)
  t.batch_size = config_dict.placeholder(int)      # windows per step (default 128, or the
  #                               dataset's: DATASET_PRESETS); every prefix of each is an example
  t.pack_windows = False        # every-prefix training only: pack several windows' training
                                # parts into each row (batch_size then counts rows of
                                # max_len - 2 slots); the same examples and user
                                # representations, far fewer padded slots on short-sequence
                                # data (idw_jax/packing.py). No effect with one target/window.
  t.softmax_groups = 1          # split each batch into this many groups of batch_size / G
  #                               windows (rows when packed), each an in-batch softmax over
  #                               its own targets only, one Adam step on their mean: the
  #                               negatives of a batch of B / G at the step count of B
  t.max_epochs = config_dict.placeholder(int)      # pretraining epochs at most (preset)
  t.patience = config_dict.placeholder(int)        # early stopping in pretraining: epochs
  #                               without a gain in validation (eval.early_stop_metric); wake
  #                               phases and calibration: idw.wake_patience, calibration_patience
  t.valid_every = 1             # validate after every k-th epoch of a training phase and
  #                               after its last (1: every epoch). Patience still counts
  #                               epochs, checked at validations (k >= patience: the first
  #                               validation without a gain ends the phase); best-epoch
  #                               restore picks among validated epochs. Saves validation time.
  t.restore_best = config_dict.placeholder(bool)   # a phase ends with its best epoch's
  #                               parameters (else its last)
  t.shuffle = config_dict.placeholder(bool)        # a new window order every epoch (else
  #                               the data's order, user by user, every epoch)
  t.lr_schedule = config_dict.placeholder(str)     # per phase: "constant" (the peak throughout)
  #                               or "cosine" (linear warm-up, cosine decay over the phase's
  #                               epoch budget: train.max_epochs, idw.wake_max_epochs, ...)
  t.warmup_fraction = 0.05      # cosine: warm-up steps as a fraction of the phase's budget
  t.final_lr_fraction = 0.0     # cosine: the rate at the end of the budget, x the peak
  t.steps_per_call = 50         # training steps fused into one jitted call (progress granularity)
  t.reset_optimizer = config_dict.placeholder(bool)  # fresh Adam at the start of every
  #                               phase (calibration always starts a fresh one)

  c.idw = ml_collections.ConfigDict()
  i = c.idw                     # Sec. 3.3, Alg. 1-2
  i.momentum = config_dict.placeholder(float)      # m in Eq. 9
  i.eta = config_dict.placeholder(float)           # stopping threshold on ||w(t+1) - w(t)||
  i.max_iterations = config_dict.placeholder(int)  # at most this many wake phases
  i.stopping_norm = config_dict.placeholder(str)   # "l2" | "inf"
  i.weighting = config_dict.placeholder(str)       # "relative" (h = 1 - p') | "inverse" (1/p)
  i.kde_sample_size = config_dict.placeholder(int)  # 0 = exact over all items
  i.kde_noise_std = config_dict.placeholder(float)  # std of N(0, s^2) noise added to the KDE
  #                               sample's embeddings (the authors' 0.1; paper 0)
  i.kde_covariance = config_dict.placeholder(str)  # kernel: "isotropic" (Scott's bandwidth on
  #                               the mean per-dimension std) | "full" (scipy's gaussian_kde:
  #                               the weighted covariance, Scott's factor of the effective n)
  i.weight_support = config_dict.placeholder(str)  # items that get weight: "all" | "targets"
  #                               (training targets only; the KDE sample is drawn from them)
  i.example_weight = "share"    # "share": e_y ~ w_y / p(y) | "literal": e_y ~ w_y
  i.wake_max_epochs = config_dict.placeholder(float)  # epochs per wake phase (fractions allowed)
  i.validate_wakes = True       # False: wake phases (of one epoch at most: nothing to choose
  #                               within them) skip validation, and the IDW trace rows after
  #                               them have none; saves one validation per IDW iteration
  i.calibrate = True            # user-tower calibration (Sec. 3.3)
  i.calibration_max_epochs = config_dict.placeholder(float)  # epochs (fractions allowed)
  i.calibration_lr_scale = config_dict.placeholder(float)  # calibration's learning rate is
  #                               train.learning_rate times this (authors' 0.1; paper 1)
  i.wake_patience = config_dict.placeholder(int)   # early stopping in a wake phase
  i.calibration_patience = config_dict.placeholder(int)  # early stopping in calibration
  i.wake_early_stop_metric = config_dict.placeholder(str)  # a wake phase's early stopping on
  #                               "[split/]metric" of validation ("" = eval.early_stop_metric
  #                               overall; the authors': "tail/HR@5")
  i.kde_block = 0               # KDE tile size, queries and items (0 = the backend's default
  #                               tiles: density.default_blocks)
  i.kde_impl = "xla"            # "xla" (blocked, the reference) | "pallas" (fused Triton kernel,
  #                               GPUs only)
  i.pretrained_workdir = ""     # workdir of a finished run of the base method (mur for mur_idw,
                                # sur for sur_idw) with the same config and seed: its state after
                                # pretraining is this run's (bit-identical; the grid fills it in)

  c.eval = ml_collections.ConfigDict()
  c.eval.ks = (5, 20)           # HR@K and NDCG@K (Sec. 4.2, App. B)
  c.eval.early_stop_metric = "NDCG@20"  # validation metric of early stopping and selection
  c.eval.block_users = 512      # full-corpus ranking tiles (fastest on CPU: benchmarks/eval.py)
  c.eval.block_items = 1024     # and its item tiles

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.keep = 2         # the latest k checkpoints are kept
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


# Fields added after runs were made, with the value that gives those runs' behaviour where the
# `base_config` default (None for preset placeholders) does not.
_BEFORE_FIELD = {"train.lr_schedule": "constant", "model.encoder": "pre_ln",
                 "idw.wake_patience": 3, "idw.calibration_patience": 3,
                 "idw.wake_early_stop_metric": "",
                 "idw.kde_covariance": "isotropic", "idw.weight_support": "all",
                 "model.interest_pool": "plain", "model.item_tower": "mlp",
                 "train.restore_best": True, "train.shuffle": True}
# Fields removed since, with the value they always had in effect (model.dropout was never
# applied): a stored config holding that value compares equal to one without the field.
_REMOVED = {("model", "dropout"): 0.0}


def backfill(saved: dict) -> dict:
  """A stored config dict (results.json, checkpoint) with the fields added since it was written
  set to the values that keep the old behaviour (the `base_config` default, e.g.
  train.pack_windows False, or `_BEFORE_FIELD`): runs made before a field existed stay cached
  and resumable, and still differ from a config that sets the new field otherwise."""
  def fill(have: dict, defaults: dict, prefix: str) -> dict:
    out = dict(have)
    for k, v in defaults.items():
      if k not in out:
        out[k] = _BEFORE_FIELD.get(prefix + k, v)
      elif isinstance(v, dict) and isinstance(out[k], dict):
        out[k] = fill(out[k], v, f"{prefix}{k}.")
    return out
  out = fill(saved, base_config().to_dict(), "")
  # Before they existed, wake phases and calibration used train.patience.
  patience = saved.get("train", {}).get("patience")
  for field in ("wake_patience", "calibration_patience"):
    if patience is not None and field not in saved.get("idw", {}):
      out["idw"][field] = patience
  for (section, field), value in _REMOVED.items():
    if isinstance(out.get(section), dict) and out[section].get(field, value) == value:
      out[section] = {k: v for k, v in out[section].items() if k != field}
  return out


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


def finalize(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Resolved, validated copy: method and preset placeholders filled, impossible values named."""
  c = ml_collections.ConfigDict(config.to_dict())
  method = methods_lib.get(c.method)
  if c.preset not in PRESETS:
    raise ValueError(f"config.preset must be one of {tuple(PRESETS)}, got {c.preset!r}")
  if c.preset == "paper" and c.data.protocol.stride is None:
    c.data.protocol.stride = c.data.protocol.max_len   # consecutive windows (Sec. 4.1)
  for table in (DATASET_PRESETS.get(c.data.name, {}).get(c.preset, {}), PRESETS[c.preset],
                {"train.batch_size": 128}):
    for field, value in table.items():
      if _get(c, field) is None:
        _set(c, field, value)
  if c.model.num_interests is None:
    c.model.num_interests = method.num_interests or 5
  if method.num_interests is not None and c.model.num_interests != method.num_interests:
    raise ValueError(f"config.model.num_interests must be {method.num_interests} for method "
                     f"{c.method!r}")
  if method.item_norm != "none":
    c.model.item_norm = method.item_norm
  if c.model.item_norm == "train_eval" and c.model.temperature == 1.0:
    c.model.temperature = c.loss.item_norm_temperature
  try:
    c.model.item_mlp_dims = tuple(int(x) for x in c.model.item_mlp_dims)
  except (TypeError, ValueError) as e:
    raise ValueError(f"config.model.item_mlp_dims: must be integer widths, e.g. (16, 16), "
                     f"got {c.model.item_mlp_dims!r}") from e
  _validate(c)
  return c


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


def _validate(c):
  m, t, i, p = c.model, c.train, c.idw, c.data.protocol
  _check(m.num_interests >= 1, "model.num_interests", f"must be >= 1, got {m.num_interests}")
  _check(m.embed_dim >= 1, "model.embed_dim", f"must be >= 1, got {m.embed_dim}")
  _check(m.num_heads >= 1, "model.num_heads", f"must be >= 1, got {m.num_heads}")
  _check(m.embed_dim % m.num_heads == 0, "model.num_heads",
         f"must divide model.embed_dim={m.embed_dim}, got {m.num_heads}")
  _check(len(m.item_mlp_dims) >= 1 and m.item_mlp_dims[-1] == m.embed_dim, "model.item_mlp_dims",
         f"last width must equal model.embed_dim={m.embed_dim}, got {m.item_mlp_dims}")
  _check(m.affinity in ("mixture", "max"), "model.affinity", f"unknown {m.affinity!r}")
  _check(m.embedding_init in ("default", "keras_uniform", "uniform_0.1"),
         "model.embedding_init", f"unknown {m.embedding_init!r}")
  _check(m.encoder in ("pre_ln", "tfrs"), "model.encoder", f"unknown {m.encoder!r}")
  _check(m.encoder != "tfrs" or p.train_targets == "last", "model.encoder",
         "'tfrs' attends both ways within a prefix, so it needs "
         "data.protocol.train_targets='last' (one target per window)")
  _check(m.encoder != "tfrs" or not m.positions, "model.encoder",
         "'tfrs' has no position embeddings (the authors' towers); set model.positions=False")
  _check(m.interest_pool in ("plain", "scaled"), "model.interest_pool",
         f"unknown {m.interest_pool!r}")
  _check(m.item_tower in ("mlp", "tfrs"), "model.item_tower", f"unknown {m.item_tower!r}")
  _check(m.item_norm in ("none", "train_eval", "eval"), "model.item_norm",
         f"unknown {m.item_norm!r}")
  _check(m.temperature > 0, "model.temperature", f"must be > 0, got {m.temperature}")
  _check(t.learning_rate > 0, "train.learning_rate", f"must be > 0, got {t.learning_rate}")
  _check(t.batch_size >= 1, "train.batch_size", f"must be >= 1, got {t.batch_size}")
  _check(t.softmax_groups >= 1 and t.batch_size % t.softmax_groups == 0, "train.softmax_groups",
         f"must be >= 1 and divide train.batch_size={t.batch_size}, got {t.softmax_groups}")
  _check(t.max_epochs >= 1, "train.max_epochs", f"must be >= 1, got {t.max_epochs}")
  _check(t.patience >= 1, "train.patience", f"must be >= 1, got {t.patience}")
  _check(t.valid_every >= 1, "train.valid_every", f"must be >= 1, got {t.valid_every}")
  _check(i.wake_patience >= 1, "idw.wake_patience", f"must be >= 1, got {i.wake_patience}")
  _check(i.calibration_patience >= 1, "idw.calibration_patience",
         f"must be >= 1, got {i.calibration_patience}")
  split, name = parse_split_metric(i.wake_early_stop_metric) or ("overall", "")
  _check(i.wake_early_stop_metric == "" or (
             split in ("overall", "head", "tail") and
             name in {f"{n}@{k}" for n in ("HR", "NDCG") for k in c.eval.ks}),
         "idw.wake_early_stop_metric", "must be '' or [overall|head|tail/]HR@K or NDCG@K with K "
         f"in eval.ks, got {i.wake_early_stop_metric!r}")
  _check(i.kde_covariance in ("isotropic", "full"), "idw.kde_covariance",
         f"must be 'isotropic' or 'full', got {i.kde_covariance!r}")
  _check(i.weight_support in ("all", "targets"), "idw.weight_support",
         f"must be 'all' or 'targets', got {i.weight_support!r}")
  _check(t.lr_schedule in ("constant", "cosine"), "train.lr_schedule",
         f"must be 'constant' or 'cosine', got {t.lr_schedule!r}")
  _check(0 <= t.warmup_fraction < 1, "train.warmup_fraction",
         f"must be in [0, 1), got {t.warmup_fraction}")
  _check(0 <= t.final_lr_fraction <= 1, "train.final_lr_fraction",
         f"must be in [0, 1], got {t.final_lr_fraction}")
  _check(i.wake_max_epochs > 0, "idw.wake_max_epochs", f"must be > 0, got {i.wake_max_epochs}")
  _check(i.validate_wakes or i.wake_max_epochs <= 1, "idw.validate_wakes",
         f"False needs idw.wake_max_epochs <= 1 (got {i.wake_max_epochs}): a longer wake phase "
         "chooses its best epoch by validation")
  _check(i.calibration_max_epochs > 0, "idw.calibration_max_epochs",
         f"must be > 0, got {i.calibration_max_epochs}")
  _check(t.steps_per_call >= 1, "train.steps_per_call", f"must be >= 1, got {t.steps_per_call}")
  _check(0 <= i.momentum <= 1, "idw.momentum", f"must be in [0, 1], got {i.momentum}")
  _check(i.eta >= 0, "idw.eta", f"must be >= 0, got {i.eta}")
  _check(not i.pretrained_workdir or c.method in IDW_METHODS, "idw.pretrained_workdir",
         f"only IDW methods {IDW_METHODS} reuse a pretraining, not {c.method!r}")
  _check(i.kde_block >= 0, "idw.kde_block", f"must be >= 0, got {i.kde_block}")
  _check(i.kde_sample_size >= 0, "idw.kde_sample_size",
         f"must be >= 0 (0: exact KDE over all items), got {i.kde_sample_size}")
  _check(i.kde_impl in ("xla", "pallas"), "idw.kde_impl",
         f"must be 'xla' or 'pallas', got {i.kde_impl!r}")
  _check(i.max_iterations >= 0, "idw.max_iterations", f"must be >= 0, got {i.max_iterations}")
  _check(i.stopping_norm in ("l2", "inf"), "idw.stopping_norm", f"unknown {i.stopping_norm!r}")
  _check(i.weighting in ("relative", "inverse"), "idw.weighting", f"unknown {i.weighting!r}")
  _check(i.example_weight in ("share", "literal"), "idw.example_weight",
         f"unknown {i.example_weight!r}")
  _check(p.max_len >= 4, "data.protocol.max_len", f"must be >= 4, got {p.max_len}")
  _check(1 <= p.stride <= p.max_len, "data.protocol.stride",
         f"must be in 1..data.protocol.max_len={p.max_len}, got {p.stride}")
  _check(0 < p.head_fraction < 1, "data.protocol.head_fraction",
         f"must be in (0, 1), got {p.head_fraction}")
  _check(p.num_negatives >= 0, "data.protocol.num_negatives", "must be >= 0")
  _check(set(c.eval.ks) and all(k >= 1 for k in c.eval.ks), "eval.ks", f"bad {c.eval.ks}")
  _check(c.eval.early_stop_metric in {f"{n}@{k}" for n in ("HR", "NDCG") for k in c.eval.ks},
         "eval.early_stop_metric", f"must be HR@K or NDCG@K with K in eval.ks, got "
         f"{c.eval.early_stop_metric!r}")
  _check(c.checkpoint.keep >= 1, "checkpoint.keep", "must be >= 1")
  s = c.data.synthetic
  if c.data.source == "synthetic":
    _check(s.num_clusters >= 1, "data.synthetic.num_clusters", f"must be >= 1, got {s.num_clusters}")
    _check(s.num_items % s.num_clusters == 0, "data.synthetic.num_items",
           f"must be a multiple of num_clusters={s.num_clusters}, got {s.num_items}")
    _check(0 <= s.alpha and 0 <= s.gamma and s.alpha + s.gamma <= 1, "data.synthetic.alpha",
           f"alpha, gamma >= 0 with alpha + gamma <= 1, got {s.alpha}, {s.gamma}")
    _check(0 <= s.epsilon <= 1, "data.synthetic.epsilon", f"must be in [0, 1], got {s.epsilon}")
  else:
    _check(bool(c.data.path), "data.path", "must name the raw data file for a real dataset")


def get_config_for(dataset_defaults: dict, arg: str | None) -> ml_collections.ConfigDict:
  """Shared body of configs/*.py: arg = "method[,preset][,tiny]" (e.g. "mur_idw,authors_code";
  "tiny" applies TINY)."""
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
        for field, value in TINY.items():
          _set(c, field, value)
      else:
        raise ValueError(f"config arg {part!r} is neither a method {METHODS}, a preset "
                         f"{tuple(PRESETS)} nor 'tiny'")
  return c
