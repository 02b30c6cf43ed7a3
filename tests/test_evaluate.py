"""`evaluate`: a finished run scored on an interaction file (idw_jax/evaluate.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ml_collections
import numpy as np
import pytest

from idw_jax import config as config_lib
from idw_jax import evaluate
from idw_jax.data import pipeline

ROOT = Path(__file__).resolve().parents[1]


def _own_data_file(run, path: Path) -> Path:
  """The run's synthetic sequences as a `user,item,timestamp` CSV (raw item k = dense k)."""
  cfg = ml_collections.ConfigDict(run.results["config"])
  seqs = pipeline.load_sequences(cfg.data)
  rows = ["user,item,timestamp"]
  for u in range(seqs.num_users):
    rows += [f"{u},{i},{t}" for t, i in enumerate(seqs.sequence(u).tolist())]
  path.write_text("\n".join(rows) + "\n")
  return path


def test_own_test_data_gives_the_runs_test_metrics_exactly(mur_run, tmp_path):
  out = evaluate.evaluate_run(mur_run.workdir, _own_data_file(mur_run, tmp_path / "own.csv"),
                              echo=lambda msg: None)
  assert out["source"] == "delimited"
  assert out["unknown"]["items"] == out["unknown"]["events"] == 0
  assert out["test"] == mur_run.results["test"]      # every block, every float, bit for bit
  assert out["queries"]["scored"] == mur_run.results["test"]["full"]["overall"]["count"]
  import idw_jax   # the API's call is the same function
  assert idw_jax.evaluate_run(mur_run.workdir, tmp_path / "own.csv")["test"] == out["test"]


def test_unknown_items_are_counted_and_left_out(mur_run, tmp_path):
  # By hand (windows protocol, one window per user): a's target 4 is scored from 1 2 3 (999
  # dropped); b's target 999 is not scored; c's history is all unknown, so it is not scored.
  path = tmp_path / "new.csv"
  path.write_text("user,item,timestamp\n" + "".join(
      f"{u},{i},{t}\n" for u, seq in (("a", [1, 2, 999, 3, 4]), ("b", [5, 6, 7, 999]),
                                      ("c", [999, 998, 8]))
      for t, i in enumerate(seq)))
  out = evaluate.evaluate_run(mur_run.workdir, path, echo=lambda msg: None)
  assert out["unknown"] == {"items": 2, "events": 4, "first_items": [998, 999],
                            "queries_target_unknown": 1, "queries_without_known_history": 1,
                            "history_items_dropped": 3}
  assert out["queries"]["test_queries"] == 3 and out["queries"]["scored"] == 1
  # a's query is the query of the history without the unknown item (full-corpus rank).
  clean = tmp_path / "clean.csv"
  clean.write_text("user,item,timestamp\n" + "".join(f"a,{i},{t}\n"
                                                     for t, i in enumerate([1, 2, 3, 4])))
  ref = evaluate.evaluate_run(mur_run.workdir, clean, echo=lambda msg: None)
  assert json.dumps(out["test"]["full"]) == json.dumps(ref["test"]["full"])   # NaN: no tail
  assert ref["unknown"]["events"] == 0


def test_head_and_tail_are_the_runs(mur_run, tmp_path):
  """One query per item as target: head counts are the run's head items (float64 reference)."""
  counts = np.concatenate([[0], np.load(mur_run.workdir / "embeddings" / "final.npz")[
      "train_counts"]])
  n = counts.size - 1
  order = np.lexsort((np.arange(1, n + 1), -counts[1:].astype(np.float64)))
  head = set((order[:int(np.ceil(0.2 * n))] + 1).tolist())
  path = tmp_path / "each.csv"
  path.write_text("user,item,timestamp\n" + "".join(
      f"{k},1,0\n{k},2,1\n{k},{k},2\n" for k in range(1, n + 1)))
  out = evaluate.evaluate_run(mur_run.workdir, path, echo=lambda msg: None)
  assert out["test"]["full"]["head"]["count"] == len(head)
  assert out["test"]["full"]["tail"]["count"] == n - len(head)


def test_reader_overrides_and_errors(mur_run, tmp_path):
  path = tmp_path / "x.txt"
  path.write_text("u;i;t\na;1;0\na;2;1\n")
  with pytest.raises(ValueError, match="config.data.source"):
    evaluate.evaluate_run(mur_run.workdir, path, data_overrides={"source": "nope"},
                          echo=lambda msg: None)
  out = evaluate.evaluate_run(mur_run.workdir, path, echo=lambda msg: None, data_overrides={
      "source": "delimited", "delimiter": ";", "columns.user": "u", "columns.item": "i",
      "columns.time": "t"})
  assert out["queries"]["scored"] == 0 and out["test"] is None
  assert out["queries"]["short_windows_dropped"] == 1      # 2 events: no window


@pytest.mark.slow      # evaluate.py processes
def test_cli_writes_the_json_and_help_exits_0(mur_run, tmp_path):
  path = _own_data_file(mur_run, tmp_path / "own.csv")
  env_py = [sys.executable, "-m", "idw_jax.evaluate"]
  assert subprocess.run(env_py + ["--help"], capture_output=True, cwd=ROOT).returncode == 0
  proc = subprocess.run(env_py + [f"--workdir={mur_run.workdir}", f"--data={path}",
                                  f"--output={tmp_path / 'out.json'}"],
                        capture_output=True, text=True, cwd=ROOT)
  assert proc.returncode == 0, proc.stderr
  out = json.loads((tmp_path / "out.json").read_text())
  assert out["test"] == json.loads(json.dumps(mur_run.results["test"]))
  assert "0 unknown item(s)" in proc.stderr
  bad = subprocess.run(env_py + [f"--workdir={tmp_path}", f"--data={path}"],
                       capture_output=True, text=True, cwd=ROOT)
  assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1


def test_config_of_a_synthetic_run_picks_the_reader_by_name():
  run_data = config_lib.base_config().data
  for name, source in (("a.csv", "delimited"), ("a.inter.gz", "recbole"),
                       ("a.txt", "user_item_timestamp")):
    assert evaluate.reader_config(run_data, Path(name), None).source == source


@pytest.mark.slow      # a whole tiny leave-one-out run
def test_leave_one_out_run_on_its_own_data(tmp_path):
  """A leave-one-out run with sampled negatives (200 items): its own data gives its test
  metrics, the ranking without history and the sampled one included, bit for bit."""
  from tests.tiny import tiny_run
  run = tiny_run("sur", tmp_path / "run", **{"data.protocol.split": "leave_one_out",
                                             "data.synthetic.num_items": 200,
                                             "train.max_epochs": 1})
  out = evaluate.evaluate_run(run.workdir, _own_data_file(run, tmp_path / "own.csv"),
                              echo=lambda msg: None)
  assert set(out["test"]) == {"sampled", "full", "full_no_history"}
  assert out["test"] == run.results["test"]
  assert out["queries"]["split"] == "leave_one_out"


def test_evaluation_trainer_takes_the_full_loss():
  """train.compact_targets runs on one device only; evaluation builds its Trainer on every
  device, so its config turns compaction off (and still reads configs from before the field)."""
  from tests.tiny import tiny_config
  cfg = tiny_config("mur", **{"train.compact_targets": True})
  got = evaluate._eval_config(cfg, 4)
  assert not got.train.compact_targets and got.train.batch_size == 4
  old = cfg.to_dict()
  del old["train"]["compact_targets"]
  assert "compact_targets" not in evaluate._eval_config(ml_collections.ConfigDict(old), 2).train
