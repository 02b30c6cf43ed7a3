"""The table of methods drives the config, the loss tables and the run's phases."""

import numpy as np
import pytest

from idw_jax import methods, observers, phases
from idw_jax.data import pipeline
from idw_jax.driver import CALIBRATE, PRETRAIN, SLEEP, WAKE, Driver
from tests.tiny import tiny_config


def test_every_method_resolves_to_its_row():
  assert methods.NAMES[0] == "sur" and len(set(m.title for m in methods.TABLE)) == 9
  for m in methods.TABLE:
    cfg = tiny_config(m.name)
    assert cfg.model.num_interests == (m.num_interests or 5)
    assert cfg.model.item_norm == m.item_norm
    if m.is_idw:
      assert methods.get(m.idw_base).num_interests == m.num_interests   # same model as its base
  with pytest.raises(ValueError, match="config.method must be one of"):
    methods.get("mur_ipw")
  with pytest.raises(ValueError, match="num_interests must be 1"):
    tiny_config("sur", **{"model.num_interests": 3})


@pytest.mark.parametrize("name", ["mur", "freq_balance", "focal", "qmargin", "mur_idw"])
def test_pretraining_loss_follows_the_row(name, tmp_path):
  cfg = tiny_config(name)
  splits = pipeline.make_splits(cfg.data, pipeline.load_sequences(cfg.data))
  d = Driver(cfg, splits, tmp_path)
  s = phases.make(cfg, d.trainer, PRETRAIN)
  ew, counts = s.tables.example_weight, splits.train_counts
  seen = counts > 0
  if name == "freq_balance":   # every seen item carries the same share of the loss
    share = ew[seen] * counts[seen]
    np.testing.assert_allclose(share, share.mean(), rtol=1e-5)
    assert np.ptp(counts[seen]) > 0                   # (a real test: the counts do differ)
  else:                        # the unweighted loss, Eq. 3
    np.testing.assert_array_equal(ew, seen.astype(np.float32))
  assert (s.focal > 0) == (name == "focal")
  assert np.any(s.tables.margin > 0) == (name == "qmargin")
  np.testing.assert_array_equal(np.asarray(s.device_tables["example_weight"]), ew)
  assert d.method.is_idw == (name == "mur_idw")


def test_each_phase_stops_early_on_its_own_metric():
  """Pretraining and calibration watch eval.early_stop_metric overall, each with its own
  patience; a wake phase watches idw.wake_early_stop_metric (split and name) when it is set."""
  cfg = tiny_config("mur_idw", **{"idw.wake_early_stop_metric": "tail/HR@5",
                                  "idw.wake_patience": 2, "idw.calibration_patience": 3,
                                  "train.patience": 4})
  overall = ("overall", cfg.eval.early_stop_metric)
  assert phases.stopping(cfg, PRETRAIN) == {"patience": 4, "metric": overall}
  assert phases.stopping(cfg, WAKE) == {"patience": 2, "metric": ("tail", "HR@5")}
  assert phases.stopping(cfg, CALIBRATE) == {"patience": 3, "metric": overall}
  plain = tiny_config("mur_idw", **{"idw.wake_early_stop_metric": ""})
  assert phases.stopping(plain, WAKE)["metric"] == ("overall", plain.eval.early_stop_metric)


@pytest.mark.slow      # two tiny runs each
@pytest.mark.parametrize("restore_best", [True, False])
def test_a_sleep_reports_the_kept_epochs_validation_without_validating_again(
    tmp_path, monkeypatch, restore_best):
  """Each sleep's validation metrics are those of the epoch whose parameters the last training
  phase kept (its best epoch with train.restore_best, else its last), equal to validating the
  parameters the sleep holds, and the run validates once per epoch: no sleep validates again."""
  cfg = tiny_config("mur_idw", **{
      "train.restore_best": restore_best, "train.max_epochs": 6, "train.patience": 1,
      "idw.wake_max_epochs": 4, "idw.wake_patience": 1, "train.learning_rate": 0.05,
      "idw.max_iterations": 2, "idw.eta": 0.0})
  splits = pipeline.make_splits(cfg.data, pipeline.load_sequences(cfg.data))
  calls, fresh = [], []

  class FreshValidation(observers.Observer):   # validates the parameters each sleep holds
    def phase_started(self, state):
      if state.cursor.phase == SLEEP:
        valid = evaluate(state.arrays["params"], "valid", primary_only=True)
        fresh.append(d.trainer.primary(valid)["overall"])

  d = Driver(cfg, splits, tmp_path, observers=[FreshValidation()])
  evaluate = d.trainer.evaluate
  def counting(params, split, **kw):
    calls.append((split, kw.get("primary_only", False)))
    return evaluate(params, split, **kw)
  monkeypatch.setattr(d.trainer, "evaluate", counting)
  r = d.run()
  history, trace = r["history"], r["idw_trace"]
  assert calls.count(("valid", True)) == len(history)         # one per epoch, none per sleep
  assert len(trace) == 3 and [t["valid"] for t in trace] == fresh
  phases = [("pretrain", 0)] + [("wake", t) for t in range(1, len(trace))]
  kept_before_last = 0
  for t, (phase, it) in enumerate(phases):
    rows = [h for h in history if h["phase"] == phase and h["idw_iter"] == it]
    best = max(rows, key=lambda h: h["valid"][cfg.eval.early_stop_metric])
    kept = best if restore_best else rows[-1]
    assert trace[t]["valid"] == kept["valid"]
    kept_before_last += best is not rows[-1]
  assert kept_before_last >= 1          # (some phase did keep an epoch before its last)
