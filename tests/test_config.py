"""The config's declarations: field specs, the preset table, Item Norm's temperature, upgrades."""

import copy

import pytest

from idw_jax import config as config_lib
from idw_jax import config_upgrade
from idw_jax import methods as methods_lib

CHOICE_FIELDS = sorted(f for f, s in config_lib.specs().items() if s.choices)
INTERVAL_FIELDS = sorted(f for f, s in config_lib.specs().items() if s.interval)


def _finalize(arg="mur", data=None, **fields):
  c = config_lib.get_config_for(data or {}, arg)
  for field, value in fields.items():
    config_lib.set_field(c, field, value)
  return config_lib.finalize(c)


@pytest.mark.parametrize("field", CHOICE_FIELDS)
def test_every_choice_field_rejects_a_value_outside_its_choices(field):
  c = config_lib.get_config_for({}, "mur")
  config_lib.set_field(c, field, "bogus")
  with pytest.raises(ValueError, match=rf"^config\.{field}[ :].*'bogus'"):
    config_lib.finalize(c)


@pytest.mark.parametrize("field,value", [
    ("data.protocol.tail_window", "end_aligned"),     # data/protocol.py's tuples
    ("data.protocol.negative_sampler", "popularity"),
    ("data.source", "movielens"),                      # readers.FORMATS
    ("idw.kde_impl", "pallas"),
    ("model.item_norm", "eval"),
])
def test_choice_fields_accept_their_choices(field, value):
  c = config_lib.get_config_for({"data.path": "x"}, "mur")
  config_lib.set_field(c, field, value)
  got = config_lib.finalize(c)
  assert config_lib._get(got, field) == value


@pytest.mark.parametrize("field,bad,good", [
    ("train.warmup_fraction", 1.0, 0.0),         # [0, 1)
    ("train.final_lr_fraction", 1.5, 1.0),       # [0, 1]
    ("data.protocol.head_fraction", 0.0, 0.5),   # (0, 1)
    ("model.temperature", 0.0, 1e-3),            # (0, inf)
    ("train.batch_size", 0, 1),                  # [1, inf)
    ("idw.eta", -1e-9, 0.0),                     # [0, inf)
    ("idw.momentum", 1.01, 1.0),                 # [0, 1]
    ("data.protocol.max_len", 3, 4),             # [4, inf)
    ("data.synthetic.epsilon", -0.1, 0.0),
])
def test_interval_fields_take_their_bounds(field, bad, good):
  assert field in INTERVAL_FIELDS
  with pytest.raises(ValueError, match=rf"^config\.{field}: must be .*, got {bad}$"):
    _finalize(**{field: bad})
  assert config_lib._get(_finalize(**{field: good}), field) == good


@pytest.mark.parametrize("field,value", [
    ("train.learning_rate", float("inf")), ("train.learning_rate", float("nan")),
    ("idw.calibration_lr_scale", float("inf")), ("loss.focal_gamma", float("nan")),
    ("idw.wake_max_epochs", float("inf")), ("data.synthetic.cluster_exponent", float("-inf")),
])
def test_inf_and_nan_are_refused_in_any_float_field(field, value):
  # Reproduces: inf passed where a field has no upper bound (idw.calibration_lr_scale=inf
  # trained calibration at an infinite rate) and was called "not > 0" where it had one.
  with pytest.raises(ValueError) as e:
    _finalize(**{field: value})
  assert str(e.value) == f"config.{field}: must be a finite number, got {value}"


def test_errors_are_one_line_naming_the_field():
  with pytest.raises(ValueError) as e:
    _finalize(**{"train.batch_size": 0})
  assert str(e.value) == "config.train.batch_size: must be >= 1, got 0"
  with pytest.raises(ValueError) as e:
    _finalize(**{"model.temperature": -1.0})
  assert str(e.value) == "config.model.temperature: must be > 0, got -1.0"


def test_choices_are_those_of_the_modules_that_own_them():
  # Declared at the field where the owning module imports JAX (config stays light to import).
  from idw_jax import affinity, density, models
  specs = config_lib.specs()
  assert specs["model.affinity"].choices == affinity.AFFINITIES
  assert specs["model.embedding_init"].choices == models.EMBEDDING_INITS
  assert specs["idw.weighting"].choices == density.WEIGHTINGS
  assert specs["idw.kde_covariance"].choices == density.COVARIANCES
  assert set(specs["idw.kde_impl"].choices) == set(density.IMPLS) - {"pallas_interpret"}
  assert {m.item_norm for m in methods_lib.TABLE} <= set(methods_lib.ITEM_NORMS)


def test_table_rows_are_exactly_the_fields_without_a_default():
  base = config_lib.base_config()
  unset = {f for f in config_lib.specs() if config_lib._get(base, f) is None}
  assert unset == set(config_lib.TABLE)
  names = {"synthetic", "ml1m", "clothing", "kindle", "clothing-2014-standin"}
  for field, row in config_lib.TABLE.items():
    assert set(config_lib.PRESETS) <= set(row), field
    for column, value in row.items():
      where, _, preset = column.rpartition("/")
      assert preset in config_lib.PRESETS and (not where or where in names or
                                               where in config_lib.DATASET_GROUPS), column
      if not isinstance(value, config_lib.SameAs):
        config_lib.specs()[field].check(field, value)   # every value is one its field allows


@pytest.mark.parametrize("name,preset,want", [
    # (data.name, preset) -> train.batch_size, model.embed_dim, train.lr_schedule
    ("synthetic", "paper", (128, 16, "constant")),
    ("synthetic", "authors_code", (128, 4, "constant")),
    ("ml1m", "paper", (16, 16, "cosine")),            # the dataset's column first
    ("ml1m", "authors_code", (512, 4, "constant")),
    ("kindle", "paper", (64, 16, "constant")),
    ("kindle", "authors_code", (256, 8, "constant")),  # the "amazon" group's column
    ("clothing-2014-standin", "paper", (32, 16, "constant")),
    ("clothing-2014-standin", "authors_code", (256, 8, "constant")),
])
def test_preset_values_take_the_most_specific_column(name, preset, want):
  v = config_lib.preset_values(name, preset)
  assert (v["train.batch_size"], v["model.embed_dim"], v["train.lr_schedule"]) == want
  data = {"data.name": name, "data.source": "user_sequences", "data.path": "x"}
  f = _finalize(f"mur,{preset}", data)
  assert (f.train.batch_size, f.model.embed_dim, f.train.lr_schedule) == want
  assert f.data.protocol.stride == (f.data.protocol.max_len if preset == "paper" else 5)


def test_explicit_fields_win_over_the_table():
  f = _finalize("mur,authors_code", {"data.name": "ml1m", "data.source": "user_sequences",
                                     "data.path": "x"},
                **{"train.batch_size": 7, "data.protocol.stride": 3})
  assert (f.train.batch_size, f.data.protocol.stride) == (7, 3)


def test_table_prints_every_row():
  text = config_lib.table_markdown()
  lines = text.splitlines()
  assert len(lines) == 2 + len(config_lib.TABLE)
  assert lines[0].startswith("| field | paper | authors_code |")
  assert "| `train.batch_size` | `128` | `128` |" in text


@pytest.mark.parametrize("arg,fields,want", [
    ("item_norm", {}, 0.1),                                   # paper's 1.0 -> item norm's 0.1
    ("item_norm", {"model.temperature": 1.0}, 0.1),           # an explicit 1.0 too
    ("item_norm", {"model.temperature": 0.5}, 0.5),           # any other value is kept
    ("item_norm", {"loss.item_norm_temperature": 0.2}, 0.2),
    ("item_norm,authors_code", {}, 0.01),                     # the authors' 0.01 is kept
    ("item_norm_posthoc", {}, 1.0),                           # trains as the plain model
    ("mur", {"loss.item_norm_temperature": 0.2}, 1.0),
    ("mur", {"model.item_norm": "train_eval"}, 0.1),          # the rule reads item_norm
])
def test_effective_temperature(arg, fields, want):
  f = _finalize(arg, **fields)
  assert f.model.temperature == want
  assert config_lib.effective_temperature(f) == want        # resolved: a fixed point


def test_item_norm_methods_set_their_item_norm_over_an_explicit_one():
  assert _finalize("item_norm", **{"model.item_norm": "eval"}).model.item_norm == "train_eval"
  assert _finalize("sur", **{"model.item_norm": "eval"}).model.item_norm == "eval"
  with pytest.raises(ValueError, match="config.model.num_interests must be 1"):
    _finalize("sur", **{"model.num_interests": 5})


def test_upgrade_fills_added_fields_with_their_old_behaviour():
  defaults = {"train": {"patience": None, "shuffle": None, "pack_windows": False,
                        "lr_schedule": None},
              "idw": {"wake_patience": None, "calibration_patience": None, "eta": None},
              "model": {"encoder": None, "embed_dim": None}}
  saved = {"train": {"patience": 5, "lr_schedule": "cosine"},
           "idw": {"calibration_patience": 2, "eta": 1e-3},
           "model": {"embed_dim": 4, "dropout": 0.0}}
  before = copy.deepcopy((saved, defaults))
  out = config_upgrade.upgrade(saved, defaults)
  assert out == {
      "train": {"patience": 5, "lr_schedule": "cosine",   # stored values are kept
                "shuffle": True,                          # BEFORE_FIELD
                "pack_windows": False},                   # today's default
      "idw": {"calibration_patience": 2, "eta": 1e-3,
              "wake_patience": 5},                        # was train.patience
      "model": {"embed_dim": 4, "dropout": 0.0, "encoder": "pre_ln"}}   # a field again
  assert (saved, defaults) == before                      # inputs untouched
  saved["model"]["dropout"] = 0.5                         # a stored value stays
  assert config_upgrade.upgrade(saved, defaults)["model"]["dropout"] == 0.5


def test_backfill_of_a_resolved_config_is_itself():
  for arg in ("mur_idw", "sur,authors_code", "item_norm"):
    saved = _finalize(arg).to_dict()
    assert config_lib.backfill(saved) == saved


# ------------------------------------------------------------- issue 34.5: papercuts
@pytest.mark.parametrize("arg,data,want", [
    ("mur", None, (16, 16)),                                   # the presets' (d, d) ...
    ("mur,authors_code", None, (4, 4)),
    ("mur,authors_code", {"data.name": "kindle", "data.source": "amazon", "data.path": "x"},
     (8, 8)),                                                  # ... whatever column sets d
])
def test_item_tower_widths_follow_embed_dim(arg, data, want):
  assert _finalize(arg, data).model.item_mlp_dims == want
  assert _finalize(arg, data, **{"model.embed_dim": 32}).model.item_mlp_dims == (32, 32)
  explicit = {"model.embed_dim": 32, "model.item_mlp_dims": (64, 32)}   # set: kept
  assert _finalize(arg, data, **explicit).model.item_mlp_dims == (64, 32)


def test_embed_dim_and_item_widths_set_apart_are_one_line_naming_both():
  with pytest.raises(ValueError) as e:
    _finalize(**{"model.embed_dim": 32, "model.item_mlp_dims": (16, 16)})
  assert str(e.value) == ("config.model.item_mlp_dims: last width must equal "
                          "model.embed_dim=32, got (16, 16)")


@pytest.mark.slow      # a whole tiny run
def test_embed_dim_alone_trains_a_tiny_run(tmp_path):
  import numpy as np
  from tests.tiny import tiny_run
  run = tiny_run("sur", tmp_path, **{"model.embed_dim": 32})
  assert tuple(run.results["config"]["model"]["item_mlp_dims"]) == (32, 32)
  emb = np.load(tmp_path / "embeddings" / "final.npz")["item_emb"]
  assert emb.shape == (50, 32)                                  # 50 synthetic items, d = 32


def _config_files():
  import importlib.util
  for path in sorted((config_lib.repo_root() / "configs").glob("[!_]*.py")):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield path.stem, module


def _with_a_path(c):
  """configs/custom.py names no file: the user's --config.data.path does."""
  if not c.data.path:
    c.data.path = "my.csv"
  return c


def test_tiny_keeps_a_few_users_of_every_real_dataset():
  seen = set()
  for name, module in _config_files():
    full, tiny = (config_lib.finalize(_with_a_path(module.get_config(f"mur{t}")))
                  for t in ("", ",tiny"))
    if tiny.data.source == "synthetic":     # its own size: data.synthetic.num_users
      assert tiny.data.protocol.max_users == full.data.protocol.max_users == 0, name
      assert tiny.data.synthetic.num_users == config_lib.TINY["data.synthetic.num_users"]
      continue
    seen.add(name)
    assert full.data.protocol.max_users == 0, name
    assert full.data.use_tfds == (name != "custom"), name   # custom reads a small file directly
    assert 0 < tiny.data.protocol.max_users <= 200 and not tiny.data.use_tfds, name
    assert tiny.train.max_epochs == 2, name
  assert {"ml1m", "ml1m_loo", "clothing", "kindle", "clothing_standin", "custom"} <= seen
  # The grid's `--config=<real dataset>:mur,tiny` gives its runs the same fields.
  from idw_jax.experiments import cli as exp_cli
  grid = exp_cli.fixed_overrides("mur,tiny", {}, "user_sequences")
  assert grid["data.protocol.max_users"] == 200 and grid["data.use_tfds"] is False
  assert "data.protocol.max_users" not in exp_cli.fixed_overrides("tiny", {})


@pytest.mark.realdata
def test_tiny_ml1m_reads_its_first_200_users():
  import numpy as np
  from idw_jax.data import pipeline
  from tests.conftest_data import shared_data_dir
  root = shared_data_dir("ml-1m/ml-1m_user_sequences.txt.gz")
  cfg = dict(_config_files())["ml1m"].get_config("mur,tiny")
  config_lib.set_field(cfg, "data.root", str(root))
  cfg = config_lib.finalize(cfg)
  seqs = pipeline.load_sequences(cfg.data, tfds_dir=str(root / "no-tfds-here"))  # not read
  splits = pipeline.make_splits(cfg.data, seqs)
  assert not (root / "no-tfds-here").exists()          # read straight from the file
  assert (splits.report["users_in"], splits.report["users_kept"]) == (6040, 200)
  assert np.unique(splits.window_user).max() < 200
  first = seqs.lengths[:200].astype(np.int64)          # windows of 30, the remainder kept
  assert splits.num_windows <= int(np.sum(-(-first // 30)))
