"""Training behaviour: learning beats random, the frozen item tower, post-hoc item norm, config."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from idw_jax import config as config_lib
from idw_jax.data import pipeline
from idw_jax import train
from idw_jax.train import Trainer
from tests.tiny import tiny_config


def _trainer(cfg):
  splits = pipeline.make_splits(cfg.data, pipeline.load_sequences(cfg.data))
  return Trainer(cfg, splits)


def _train(tr, params, steps, seed=0, **kw):
  state = {"params": params, "opt_state": tr.init_opt_state(params, tr.cfg.train.learning_rate)}
  perm = tr.epoch_permutation(jax.random.key(seed))
  done = 0
  while done < steps:
    n = min(tr.steps_per_epoch, steps - done)
    state, _ = tr.train_steps(state, perm, 0, n, tr.tables(None), **kw)
    done += n
  return state["params"]


def test_short_training_beats_random_by_a_wide_margin():
  cfg = tiny_config("mur", **{"data.synthetic.num_users": 2000})
  tr = _trainer(cfg)
  params = tr.init_params(jax.random.key(0))
  before = tr.evaluate(params, "test")["full"]["overall"]["HR@20"]
  params = _train(tr, params, 3 * tr.steps_per_epoch)
  after = tr.evaluate(params, "test")["full"]["overall"]
  # Random ranking of 50 items gives HR@20 = 40%; the HMM is very predictable.
  assert after["HR@20"] > 60.0, after
  assert after["HR@20"] > before + 15.0


def test_calibration_freezes_item_tower_bit_for_bit():
  cfg = tiny_config("mur_idw")
  tr = _trainer(cfg)
  params = tr.init_params(jax.random.key(1))
  params = _train(tr, params, 5)                          # a few normal steps first
  item_before = jax.tree.map(np.asarray, params["item"])
  new = _train(tr, params, 6, seed=2, train_item=False)
  jax.tree.map(np.testing.assert_array_equal, item_before, jax.tree.map(np.asarray, new["item"]))
  moved = jax.tree.leaves(jax.tree.map(lambda a, b: np.abs(np.asarray(a) - np.asarray(b)).max(),
                                       params["user"], new["user"]))
  assert max(moved) > 0                                   # the user tower did train


def test_posthoc_item_norm_changes_only_evaluation():
  base, posthoc = tiny_config("mur"), tiny_config("item_norm_posthoc")
  tr_b, tr_p = _trainer(base), _trainer(posthoc)
  pb = _train(tr_b, tr_b.init_params(jax.random.key(3)), 6)
  pp = _train(tr_p, tr_p.init_params(jax.random.key(3)), 6)
  jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, pb),
               jax.tree.map(np.asarray, pp))              # identical training
  eb = np.asarray(tr_b.item_embeddings(pb))[1:]
  ep = np.asarray(tr_p.item_embeddings(pp))[1:]
  np.testing.assert_allclose(ep, eb / np.linalg.norm(eb, axis=1, keepdims=True), rtol=1e-5)
  assert tr_b.evaluate(pb, "test")["full"] != tr_p.evaluate(pp, "test")["full"]


def test_item_norm_normalises_in_training():
  cfg = tiny_config("item_norm")
  assert cfg.model.item_norm == "train_eval"
  assert cfg.model.temperature == cfg.loss.item_norm_temperature
  tr = _trainer(cfg)
  v = tr.item_embed(tr.init_params(jax.random.key(0))["item"], np.arange(1, 6), training=True)
  np.testing.assert_allclose(np.linalg.norm(np.asarray(v), axis=1), 1.0, rtol=1e-5)


def test_same_seed_same_numbers():
  cfg = tiny_config("mur")
  tr = _trainer(cfg)
  a = _train(tr, tr.init_params(jax.random.key(5)), 7)
  b = _train(tr, tr.init_params(jax.random.key(5)), 7)
  jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, a),
               jax.tree.map(np.asarray, b))


def test_trainers_with_one_spec_share_one_compiled_step():
  # The step is a module-level jit keyed by StepSpec: a second Trainer of the same config
  # (a grid's next seed, an IDW run after its base) reuses the compiled code; a new spec,
  # e.g. another temperature, compiles its own.
  from idw_jax import train
  cfg = tiny_config("mur", **{"train.batch_size": 24})   # shapes no other test uses
  first, second = _trainer(cfg), _trainer(cfg)
  assert first.spec == second.spec and first is not second
  before = train.train_call._cache_size()
  a = _train(first, first.init_params(jax.random.key(6)), 2)
  after_first = train.train_call._cache_size()
  b = _train(second, second.init_params(jax.random.key(6)), 2)
  assert after_first == before + 1
  assert train.train_call._cache_size() == after_first       # no new compilation
  jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, a),
               jax.tree.map(np.asarray, b))
  other = _trainer(tiny_config("mur", **{"train.batch_size": 24, "model.temperature": 0.5}))
  _train(other, other.init_params(jax.random.key(6)), 2)
  assert train.train_call._cache_size() == after_first + 1


@pytest.mark.parametrize("field,value,match", [
    ("model.num_interests", 0, "model.num_interests"),
    ("model.num_heads", 3, "model.num_heads"),
    ("train.learning_rate", -1.0, "train.learning_rate"),
    ("idw.momentum", 1.5, "idw.momentum"),
    ("data.synthetic.num_items", 51, "data.synthetic.num_items"),
    ("method", "bogus", "config.method"),
    ("preset", "bogus", "config.preset"),
    ("model.encoder", "rnn", "model.encoder"),
    ("model.interest_pool", "mean", "model.interest_pool"),
    ("model.item_tower", "deep", "model.item_tower"),
    ("idw.kde_covariance", "diagonal", "idw.kde_covariance"),
    ("idw.weight_support", "head", "idw.weight_support"),
    ("idw.wake_early_stop_metric", "tail/HR@7", "idw.wake_early_stop_metric"),
    ("idw.wake_early_stop_metric", "middle/HR@5", "idw.wake_early_stop_metric"),
    ("idw.wake_patience", 0, "idw.wake_patience"),
    ("idw.wake_early_stop_metric", "tail/", "idw.wake_early_stop_metric"),
    ("train.valid_every", 0, "train.valid_every"),
    ("idw.validate_wakes", False, "idw.validate_wakes"),   # with the preset's 10-epoch wakes
])
def test_impossible_config_values_name_the_field(field, value, match):
  c = config_lib.get_config_for({}, "mur")
  config_lib._set(c, field, value)
  with pytest.raises(ValueError, match=match):
    config_lib.finalize(c)


def test_presets_fill_placeholders_and_explicit_fields_win():
  c = config_lib.get_config_for({}, "mur,authors_code")
  f = config_lib.finalize(c)
  assert f.model.affinity == "max" and f.data.protocol.negative_sampler == "popularity"
  assert f.idw.stopping_norm == "inf" and f.model.embed_dim == 4
  c.model.affinity = "mixture"
  assert config_lib.finalize(c).model.affinity == "mixture"
  assert config_lib.finalize(config_lib.get_config_for({}, "sur")).model.num_interests == 1
  with pytest.raises(ValueError, match="config arg"):
    config_lib.get_config_for({}, "mur,typo")


def test_missing_real_data_names_path_and_source(tmp_path):
  from idw_jax.data import pipeline as pl
  import configs.kindle as kindle
  c = kindle.get_config("mur")
  c.data.root = str(tmp_path)
  c = config_lib.finalize(c)
  with pytest.raises(FileNotFoundError) as e:
    pl.load_sequences(c.data)
  msg = str(e.value)
  assert str(tmp_path) in msg and "Kindle_Store.json.gz" in msg and "nijianmo.github.io" in msg


def _lr_reference(step, peak, total, warmup, final):
  """float64 hand formula: linear warm-up to peak, cosine to peak * final at `total`."""
  import math
  warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
  if total <= warmup:
    return peak * warm
  progress = min(max((step - warmup) / (total - warmup), 0.0), 1.0)
  return peak * warm * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress)))


@pytest.mark.parametrize("total,warmup,final", [(100, 5, 0.0), (37, 0, 0.1), (10, 10, 0.0)])
def test_scheduled_lr_matches_the_formula(total, warmup, final):
  from idw_jax.train import Schedule, scheduled_lr
  sched = Schedule(peak=0.01, total=total, warmup=warmup, final=final).arrays()
  for step in (0, 1, warmup, total // 2, total - 1, total, total + 7):
    got = float(scheduled_lr(step, sched))
    np.testing.assert_allclose(got, _lr_reference(step, 0.01, total, warmup, final), rtol=2e-6,
                               atol=1e-9)   # float32 cos near pi: absolute error ~5e-11
  if total > warmup:   # decays to the final rate and holds it past the budget
    assert float(scheduled_lr(total + 7, sched)) == pytest.approx(0.01 * final, abs=1e-9)


def test_constant_schedule_is_the_peak_bit_for_bit():
  from idw_jax.train import Schedule, scheduled_lr
  for peak in (0.01, 1e-3, 0.0123456):
    sched = Schedule(peak=peak).arrays()
    for step in (0, 5, 10_000):
      assert np.float32(scheduled_lr(step, sched)) == np.float32(peak)


def test_cosine_training_ends_at_the_final_rate_and_learns():
  """A phase under the cosine schedule: steps run at the scheduled rates (the optimizer state
  holds the last one) and training still beats random."""
  from idw_jax.train import Schedule, scheduled_lr
  cfg = tiny_config("mur", **{"data.synthetic.num_users": 2000})
  tr = _trainer(cfg)
  params = tr.init_params(jax.random.key(0))
  state = {"params": params, "opt_state": tr.init_opt_state(params, 0.01)}
  total = 3 * tr.steps_per_epoch
  sched = Schedule(peak=0.02, total=total, warmup=total // 10, final=0.0)
  for epoch in range(3):
    perm = tr.epoch_permutation(jax.random.key(epoch))
    state, _ = tr.train_steps(state, perm, 0, tr.steps_per_epoch, tr.tables(None),
                              schedule=sched, phase_step=epoch * tr.steps_per_epoch)
  last = float(state["opt_state"].hyperparams["learning_rate"])
  assert last == pytest.approx(float(scheduled_lr(total - 1, sched.arrays())), rel=1e-6)
  assert 0 < last < 1e-4
  assert tr.evaluate(state["params"], "test")["full"]["overall"]["HR@20"] > 60.0


def test_tiny_config_arg_applies_the_tiny_fields():
  # "tiny" is one more part of the config arg: configs/synthetic.py:mur,tiny.
  c = config_lib.get_config_for({"data.name": "synthetic"}, "mur,tiny")
  for field, value in config_lib.TINY.items():
    section, name = field.rsplit(".", 1)
    node = c
    for part in section.split("."):
      node = node[part]
    assert node[name] == value, field
  assert c.method == "mur"
  with pytest.raises(ValueError, match="nor 'tiny'"):
    config_lib.get_config_for({"data.name": "synthetic"}, "mur,small")


def test_unshuffled_epochs_keep_the_data_order():
  # train.shuffle False (the authors' code): windows in the data's order, user by user, the
  # same batches every epoch, padded to whole batches with the padding window.
  tr = _trainer(tiny_config("mur", **{"train.shuffle": False}))
  w = tr.splits.num_windows
  want = np.concatenate([np.arange(w), np.full(tr.steps_per_epoch * tr.batch_size - w, w)])
  for seed in (0, 1):
    np.testing.assert_array_equal(np.asarray(tr.epoch_permutation(jax.random.key(seed))), want)
  shuffled = _trainer(tiny_config("mur"))
  assert not np.array_equal(np.asarray(shuffled.epoch_permutation(jax.random.key(0)))[:w],
                            np.arange(w))


@pytest.mark.parametrize("restore_best", [True, False])
def test_a_phase_ends_with_its_best_or_its_last_epoch(tmp_path, restore_best):
  # Evaluation's validation metric is computed on the parameters the phase ended with: the
  # best epoch's (train.restore_best) or the last epoch's, as the authors' code keeps.
  # (A learning rate of 0.2 makes the tiny run peak at its first epoch.)
  from idw_jax import driver
  cfg = tiny_config("mur", **{"train.max_epochs": 4, "train.patience": 4,
                              "train.learning_rate": 0.2, "train.restore_best": restore_best})
  results = driver.run(cfg, tmp_path / "run")
  scores = [r["valid"]["NDCG@20"] for r in results["history"]]
  final = results["valid"]["full"]["overall"]["NDCG@20"]
  assert len(scores) == 4 and scores[-1] < max(scores)   # the two choices differ here
  assert final == (max(scores) if restore_best else scores[-1])


@pytest.mark.slow      # two whole runs of up to 10 epochs
def test_validating_every_k_epochs_trains_the_same_and_stops_by_epochs(tmp_path):
  # train.valid_every = k validates epochs k, 2k, ... and the budget's last. Training is that of
  # a run validating every epoch; patience still counts epochs (checked at validations), and the
  # phase ends with the best validated epoch. Reference: the rule applied by hand to the scores
  # of the every-epoch run. (A learning rate of 0.2 makes the tiny run peak early; patience 2
  # ends it after one validation without a gain, where counting validations would not.)
  from idw_jax import driver
  k, patience, budget = 2, 2, 10
  fields = {"train.max_epochs": budget, "train.learning_rate": 0.2, "train.restore_best": True}
  every = driver.run(tiny_config("mur", **fields, **{"train.patience": budget}), tmp_path / "a")
  scores = [r["valid"]["NDCG@20"] for r in every["history"]]
  assert len(scores) == budget
  best, bad, prev = None, 0, 0
  for epoch in [e for e in range(1, budget + 1) if e % k == 0 or e == budget]:
    score = scores[epoch - 1]
    if best is None or score > best:
      best, bad = score, 0
    else:
      bad += epoch - prev
    prev = epoch
    if bad >= patience:
      break
  assert epoch < budget and best < max(scores)   # the case exercises patience and skipping

  sparse = driver.run(tiny_config("mur", **fields, **{"train.patience": patience,
                                                       "train.valid_every": k}), tmp_path / "b")
  hist = sparse["history"]
  assert len(hist) == epoch
  assert [r["valid"] is None for r in hist] == [e % k != 0 for e in range(1, epoch + 1)]
  for mine, ref in zip(hist, every["history"]):
    assert mine["train_loss"] == ref["train_loss"]
    assert mine["valid"] in (None, ref["valid"])
    assert mine["timing"]["valid"] == 0 or mine["valid"] is not None
  assert sparse["valid"]["full"]["overall"]["NDCG@20"] == best


@pytest.mark.slow      # two whole MUR-IDW runs
def test_unvalidated_wake_phases_train_and_end_the_same(tmp_path):
  # idw.validate_wakes=False skips the validation of one-epoch wake phases (and the sleep's
  # after them): the run's weights, parameters and metrics are those of the validated run.
  from idw_jax import driver
  fields = {"idw.wake_max_epochs": 1, "idw.max_iterations": 3, "idw.eta": 0.0}
  ref = driver.run(tiny_config("mur_idw", **fields), tmp_path / "a")
  got = driver.run(tiny_config("mur_idw", **fields, **{"idw.validate_wakes": False}),
                   tmp_path / "b")
  assert (got["test"], got["valid"], got["silhouette"]) == (
      ref["test"], ref["valid"], ref["silhouette"])
  assert len(got["idw_trace"]) == 4
  for mine, want in zip(got["idw_trace"], ref["idw_trace"]):
    assert mine["weight_change"] == want["weight_change"]
    assert mine["valid"] == (want["valid"] if mine["iteration"] == 0 else None)
  wakes = [(h["valid"], w["valid"]) for h, w in zip(got["history"], ref["history"])
           if h["phase"] == "wake"]
  assert len(wakes) == 3 and all(mine is None and want for mine, want in wakes)


# Two sleeps and calibration (eta 0: the weight change never stops the loop early).
TWO_SLEEPS = {"idw.max_iterations": 2, "idw.eta": 0.0}


@pytest.fixture(scope="module")
def two_sleeps(tmp_path_factory):
  """A tiny MUR-IDW run of TWO_SLEEPS, in process: (folder, results, the item weights of each
  Trainer.tables call, None for the unweighted tables of Eq. 3)."""
  from idw_jax import driver, train
  calls, tables = [], train.Trainer.tables
  def counting(self, item_weight=None, margin=False):
    calls.append(None if item_weight is None else np.array(item_weight))
    return tables(self, item_weight, margin)
  workdir = tmp_path_factory.mktemp("two_sleeps")
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(train.Trainer, "tables", counting)
    results = driver.run(tiny_config("mur_idw", **TWO_SLEEPS), workdir)
  return workdir, results, calls


@pytest.mark.slow      # a second whole MUR-IDW run
def test_test_before_calibration_is_the_uncalibrated_runs_test(two_sleeps, tmp_path):
  # A calibrated IDW run scores the test set before calibration too: the parameters there are
  # those an idw.calibrate=False run evaluates, so its "test_before_calibration" (and ranks)
  # must equal that run's "test" bit for bit, and calibration must change the final test.
  from idw_jax import driver
  cal_dir, cal, _ = two_sleeps
  raw = driver.run(tiny_config("mur_idw", **TWO_SLEEPS, **{"idw.calibrate": False}),
                   tmp_path / "raw")
  assert raw["test_before_calibration"] is None
  assert cal["test_before_calibration"] == raw["test"]
  assert cal["test"] != raw["test"]
  before = np.load(cal_dir / "test_ranks_before_calibration.npz")
  after = np.load(tmp_path / "raw" / "test_ranks.npz")
  assert set(before.files) == set(after.files)
  for k in before.files:
    np.testing.assert_array_equal(before[k], after[k])
  assert not (tmp_path / "raw" / "test_ranks_before_calibration.npz").exists()


def test_loss_tables_are_made_once_a_phase_from_the_sleeps_weights(two_sleeps):
  # A training phase's loss tables (float64 on the host) are made when the phase starts, not
  # every epoch: one Trainer.tables call per training phase. A wake's are made from the weights
  # its sleep left, which embeddings/sleep<t>.npz (saved by sleep t before its update) holds for
  # wake t: equal bit for bit.
  workdir, r, calls = two_sleeps
  training = [p["phase"] for p in r["phases"] if "steps" in p]
  assert training == ["pretrain", "wake 1", "wake 2", "calibrate"]
  assert len(r["history"]) == 7 and len(calls) == 4        # 7 epochs, 4 phases
  assert calls[0] is None and calls[3] is None             # pretraining, calibration: Eq. 3
  for t in (1, 2):
    np.testing.assert_array_equal(
        calls[t][1:], np.load(workdir / "embeddings" / f"sleep{t}.npz")["item_weight"])
  assert not np.array_equal(calls[1], calls[2])


def test_a_phases_learning_rate_is_a_new_optimizer_state():
  # A phase sets its learning rate in a new optimizer state: the old one (a checkpoint may be
  # writing it) keeps its value; the new one has the old tree and a fresh optimizer's value.
  from idw_jax import train
  tr = _trainer(tiny_config("mur"))
  params = tr.init_params(jax.random.key(0))
  old = tr.init_opt_state(params, 0.1)
  new = train.with_learning_rate(old, 0.02, tr.mesh)
  fresh = tr.init_opt_state(params, 0.02).hyperparams["learning_rate"]
  assert np.asarray(old.hyperparams["learning_rate"]) == np.float32(0.1)
  assert jax.tree.structure(new) == jax.tree.structure(old)
  got = new.hyperparams["learning_rate"]
  assert got.dtype == fresh.dtype and np.asarray(got) == np.asarray(fresh)
  assert new.inner_state is old.inner_state


def test_backfill_keeps_old_runs_meaning():
  # A config stored before a field existed gets the value that gave that run's behaviour:
  # the preset fields added with the authors' towers get the old towers; the wake and
  # calibration patience of an old run were its train.patience.
  saved = tiny_config("mur_idw").to_dict()
  saved["train"]["patience"] = 5
  for section, field in (("model", "encoder"), ("model", "interest_pool"), ("model", "item_tower"),
                         ("idw", "wake_patience"), ("idw", "calibration_patience"),
                         ("idw", "kde_covariance"), ("train", "shuffle")):
    del saved[section][field]
  out = config_lib.backfill(saved)
  assert (out["model"]["encoder"], out["model"]["interest_pool"], out["model"]["item_tower"]) == (
      "pre_ln", "plain", "mlp")
  assert out["idw"]["wake_patience"] == out["idw"]["calibration_patience"] == 5
  assert out["idw"]["kde_covariance"] == "isotropic" and out["train"]["shuffle"] is True


@pytest.mark.parametrize("groups,n", [
    (2, 24), pytest.param(3, 360, marks=pytest.mark.slow)])   # 360 / 3 > 52: merged columns
def test_softmax_groups_are_separate_in_batch_softmaxes(groups, n):
  """train.softmax_groups = G: the loss is the count-weighted mean of G in-batch softmaxes,
  each against its own group's targets only (float64 loop of tests/test_losses.py)."""
  from idw_jax import train
  from tests.test_losses import _np_loss
  cfg = tiny_config("mur_idw", **{"train.softmax_groups": groups, "train.batch_size": 6})
  tr = _trainer(cfg)
  params = tr.init_params(jax.random.key(0))
  rng = np.random.default_rng(0)
  m, d = cfg.model.num_interests, cfg.model.embed_dim
  z = rng.normal(size=(n, m, d)).astype(np.float32)
  tgt = rng.integers(1, tr.splits.num_items + 1, size=n).astype(np.int32)
  mask = rng.random(n) < 0.8
  tables = {k: jnp.asarray(x) for k, x in dataclasses.asdict(tr.tables(None)).items()}
  ew_table = rng.uniform(0.2, 2.0, size=tables["log_q"].shape)
  tables["example_weight"] = jnp.asarray(ew_table, jnp.float32)
  got, aux = train._softmax_loss(tr.spec, params, z, tgt, mask, tables, 0.0)
  v = np.asarray(train.item_embed(tr.spec, params["item"], tgt, training=True), np.float64)
  lq, ew = np.asarray(tables["log_q"], np.float64), np.asarray(tables["example_weight"], np.float64)
  total = 0.0
  for sl in np.split(np.arange(n), groups):
    total += mask[sl].sum() * _np_loss(z[sl].astype(np.float64), v[sl], tgt[sl], mask[sl],
                                       lq[tgt[sl]], ew[tgt[sl]], cfg.model.affinity, True, False,
                                       temperature=cfg.model.temperature)
  np.testing.assert_allclose(float(got), total / mask.sum(), rtol=2e-5)
  assert int(aux["count"]) == mask.sum()
  # One softmax over the whole batch is a different loss: the groups do split it.
  whole, _ = train._softmax_loss(dataclasses.replace(tr.spec, softmax_groups=1), params, z, tgt,
                                 mask, tables, 0.0)
  assert abs(float(whole) - float(got)) > 1e-3


def test_softmax_groups_must_divide_the_batch():
  with pytest.raises(ValueError, match="train.softmax_groups"):
    tiny_config("mur", **{"train.softmax_groups": 5, "train.batch_size": 8})


def test_epoch_capacity_holds_the_fullest_batch_of_the_epoch():
  """Hand-worked: windows with 0, 5, 7 and 9 targets (and the padding window, none), two
  batches of two; the fullest batch holds 9 + 5 = 14."""
  from idw_jax import train
  t = np.array([0, 5, 7, 9, 0])
  perm = np.array([3, 1, 0, 2])
  assert train.epoch_capacity(t, perm, 2, 100, multiple=1) == 14
  assert train.epoch_capacity(t, perm, 2, 100, multiple=8) == 16     # rounded up
  assert train.epoch_capacity(t, perm, 2, 10, multiple=8) == 10      # never above B x T
  assert train.epoch_capacity(t, np.array([0, 4, 1, 2]), 2, 100, multiple=1) == 12
  np.testing.assert_array_equal(train.window_targets([3, 5, 30, 31], 31, 2), [0, 2, 27, 28])


@pytest.mark.parametrize("extra", [0, 9])   # exactly full, room to spare
def test_compacted_loss_is_the_full_loss(extra):
  """train.compact_targets: the loss over the valid slots moved to the first rows equals the
  loss over all B x T slots, with the same gradients."""
  from idw_jax import train
  tr = _trainer(tiny_config("mur", **{"train.batch_size": 4}))
  params = tr.init_params(jax.random.key(0))
  big = tr.spec.max_len
  lengths = np.array([big, 3, big // 2, 5], np.int32)
  windows = np.where(np.arange(big)[None, :] < lengths[:, None],
                     np.asarray(tr.splits.windows[:4]), 0).astype(np.int32)
  tables = {k: jnp.asarray(x) for k, x in dataclasses.asdict(tr.tables(None)).items()}
  count = int(train.window_targets(lengths, big, tr.spec.held_out).sum())

  def loss(spec):
    f = lambda p: train.window_loss(spec, p, windows, lengths, tables, 0.0)
    return jax.value_and_grad(f, has_aux=True)(params)

  (want, want_aux), want_g = loss(tr.spec)
  assert int(want_aux["count"]) == count and count < 4 * (big - 3)   # padded slots exist
  (got, aux), got_g = loss(dataclasses.replace(tr.spec, target_capacity=count + extra))
  assert int(aux["count"]) == count
  np.testing.assert_allclose(float(got), float(want), rtol=1e-6)
  for a, b in zip(jax.tree.leaves(got_g), jax.tree.leaves(want_g)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-7)


def test_compact_targets_trains_as_the_full_loss_and_names_what_it_cannot_do():
  """Two epochs of every-prefix training on short windows (lengths 3 to 12 of 12): the same
  parameters with and without train.compact_targets, up to float rounding."""
  fields = {"train.batch_size": 4, "train.max_epochs": 2}
  full = _trainer(tiny_config("mur", **fields))
  lengths = 3 + np.arange(full.splits.num_windows) % (full.splits.max_len - 2)
  splits = dataclasses.replace(full.splits, lengths=lengths.astype(np.int32), windows=np.where(
      np.arange(full.splits.max_len)[None, :] < lengths[:, None], full.splits.windows, 0))
  full = Trainer(full.cfg, splits)
  compact = Trainer(tiny_config("mur", **fields, **{"train.compact_targets": True}), splits)
  perm = compact.epoch_permutation(jax.random.key(0))
  cap = compact._train_args(None, perm, 0, 1, compact.tables(None), True, 0.0,
                            train.Schedule(peak=1e-3), 0)[1]["spec"].target_capacity
  assert 0 < cap < compact.batch_size * (compact.spec.max_len - 3)    # padding dropped
  params = full.init_params(jax.random.key(0))
  want, got = _train(full, params, 2 * full.steps_per_epoch), _train(
      compact, params, 2 * compact.steps_per_epoch)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-5)
  for bad in ({"train.pack_windows": True}, {"train.softmax_groups": 2},
              {"data.protocol.train_targets": "last"}):
    with pytest.raises(ValueError, match="config.train.compact_targets"):
      _trainer(tiny_config("mur", **{"train.compact_targets": True, "train.batch_size": 4, **bad}))
