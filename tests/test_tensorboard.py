"""A run's TensorBoard events: training curves, the final test and validation metrics, and the
resolved config as hyper-parameters of the hparams plugin (idw_jax/observers.py), read back from
the event files as TensorBoard reads them (TFRecords of Event protos)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from tensorboardX.proto import event_pb2
from tensorboardX.proto import plugin_hparams_pb2

from idw_jax import observers


def read_events(logdir: Path) -> list:
  """Every Event of the event files in `logdir`: a TFRecord is a little-endian uint64 length,
  its masked CRC (4 bytes), the bytes, their masked CRC (4 bytes)."""
  events = []
  for path in sorted(logdir.glob("events.out.tfevents.*")):
    data, at = path.read_bytes(), 0
    while at < len(data):
      (length,) = struct.unpack("<Q", data[at:at + 8])
      events.append(event_pb2.Event.FromString(data[at + 12:at + 12 + length]))
      at += 12 + length + 4
  return events


def test_flat_hparams_are_scalars_and_text():
  got = observers.flat_hparams({"method": "mur", "seed": 0, "model": {
      "embed_dim": 16, "item_mlp_dims": (16, 16), "positions": True, "temperature": 0.5,
      "unset": None}, "eval": {"ks": [5, 20]}})
  assert got == {"method": "mur", "seed": 0, "model.embed_dim": 16,
                 "model.item_mlp_dims": "(16, 16)", "model.positions": True,
                 "model.temperature": 0.5, "eval.ks": "(5, 20)"}


@pytest.fixture(scope="module")
def events(mur_run):
  """(scalars {tag: [(step, value)]}, hparams plugin contents [HParamsPluginData]) of the
  session's tiny MUR run, and the run."""
  scalars, hparams = {}, []
  for event in read_events(mur_run.workdir / "tensorboard"):
    for value in event.summary.value:
      if value.metadata.plugin_data.plugin_name == "hparams":
        hparams.append(plugin_hparams_pb2.HParamsPluginData.FromString(
            value.metadata.plugin_data.content))
      elif value.HasField("simple_value"):
        scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
  return scalars, hparams, mur_run


def test_final_test_and_valid_metrics_are_scalars(events):
  scalars, _, run = events
  assert "train/loss" in scalars and "valid/NDCG_20" in scalars        # the curves stay
  epochs = len(run.results["history"])
  assert run.results["test"]["sampled"] is None      # synthetic: full-corpus ranking only
  assert not any("/sampled/" in t for t in scalars)
  for part, tag in (("test", "test"), ("valid", "final_valid")):
    for kind in ("full",):
      for split in ("overall", "head", "tail"):
        for name in ("HR@5", "NDCG@5", "HR@20", "NDCG@20"):
          want = run.results[part][kind][split][name]
          (step, got), = scalars[f"{tag}/{kind}/{split}/{name.replace('@', '_')}"]  # once
          assert step == epochs and got == pytest.approx(want, rel=1e-6)   # float32
  assert not any(t.endswith("/count") for t in scalars)


def test_the_resolved_config_is_the_runs_hyper_parameters(events):
  scalars, hparams, run = events
  (start,) = [h.session_start_info for h in hparams if h.HasField("session_start_info")]
  (experiment,) = [h.experiment for h in hparams if h.HasField("experiment")]
  assert [h.HasField("session_end_info") for h in hparams].count(True) == 1
  got = start.hparams
  assert got["method"].string_value == "mur"
  config = run.results["config"]
  assert got["model.embed_dim"].number_value == config["model"]["embed_dim"] == 16
  assert got["model.item_mlp_dims"].string_value == "(16, 16)"
  assert got["train.learning_rate"].number_value == config["train"]["learning_rate"]
  assert got["model.positions"].bool_value is True
  assert len(got) == len(observers.flat_hparams(config)) > 90             # every field
  tags = {m.name.tag for m in experiment.metric_infos}
  assert {"test/full/overall/NDCG_20", "test/full/tail/HR_20",
          "final_valid/full/overall/NDCG_20"} <= tags
  assert tags <= set(scalars)               # the plugin finds each metric under its exact tag
  assert {h.name for h in experiment.hparam_infos} == set(got)
