"""The IDW state machine end to end through launch.py: phases, results.json, kill and resume."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from tests.tiny import TINY_OVERRIDES

ROOT = Path(__file__).resolve().parents[1]
COMMON = TINY_OVERRIDES + ["--config.checkpoint.every_steps=2"]


def _launch(workdir, *extra, check=True):
  cmd = [sys.executable, str(ROOT / "launch.py"), f"--workdir={workdir}",
         "--config=" + str(ROOT / "configs/synthetic.py") + ":mur_idw", *COMMON, *extra]
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
  if check and proc.returncode != 0:
    raise AssertionError(f"launch failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
  return proc


def _metrics(workdir):
  r = json.loads((Path(workdir) / "results.json").read_text())
  return r, {"test": r["test"], "valid": r["valid"], "silhouette": r["silhouette"],
             "trace": [{k: v for k, v in t.items() if k != "seconds"} for t in r["idw_trace"]],
             "history": [{k: v for k, v in h.items() if k not in ("seconds", "timing")}
                         for h in r["history"]]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """An uninterrupted tiny MUR-IDW run."""
  wd = tmp_path_factory.mktemp("ref")
  proc = _launch(wd)
  return wd, proc.stdout


def test_run_has_every_phase_and_results(reference):
  wd, out = reference
  r, _ = _metrics(wd)
  phases = [p["phase"] for p in r["phases"]]
  assert phases == ["pretrain", "sleep 0", "wake 1", "sleep 1", "calibrate", "evaluate"]
  for name in ("pretrain", "sleep 0", "wake 1", "calibrate", "HR@20", "mean silhouette"):
    assert name in out
  assert r["method"] == "mur_idw" and r["dataset"] == "synthetic"
  assert r["config"]["model"]["num_interests"] == 5
  assert set(r["test"]["full"]) == {"overall", "head", "tail", "head_clusters", "tail_clusters"}
  assert r["test"]["sampled"] is None                      # 50 items: full ranking only
  assert len(r["idw_trace"]) == 2 and all("weight_change" in t for t in r["idw_trace"])
  assert r["device"]["count"] >= 1 and r["wall_seconds"] > 0
  host = r["host"]                                         # the CPU and code that ran it
  assert host["cpu"]["cores"] == os.cpu_count() and host["cpu"]["model"]
  assert host["jax"] == jax.__version__ and len(host["commit"] or "0" * 40) == 40
  assert any(f.name.startswith("events") for f in (Path(wd) / "tensorboard").iterdir())
  assert (Path(wd) / "embeddings" / "sleep0.npz").exists()
  # Synthetic data: no file to fingerprint; its vocabulary is the identity (raw id k = dense k).
  assert r["data_fingerprint"] is None
  assert json.loads((Path(wd) / "vocab.json").read_text())["dense_to_raw"] == [None,
                                                                               *range(1, 51)]


def _first(save_log, event, phase=None):
  return next(s[0] for s in save_log if s[1] == event and (phase is None or s[2] == phase))


@pytest.mark.parametrize("where", ["sleep", "mid_epoch_wake", "during_save"])
def test_killed_run_resumes_to_identical_metrics(reference, tmp_path, where):
  ref_wd, _ = reference
  r, want = _metrics(ref_wd)
  log = r["save_log"]
  if where == "sleep":
    k, extra = _first(log, "sleep"), []
  elif where == "mid_epoch_wake":
    k, extra = _first(log, "mid_epoch", "wake"), []
  else:
    k, extra = _first(log, "epoch_end", "pretrain") + 1, ["--config.debug.exit_during_save=True"]
  proc = _launch(tmp_path, f"--config.debug.exit_after_save={k}", *extra, check=False)
  assert proc.returncode == 42, proc.stderr[-2000:]
  assert not (tmp_path / "results.json").exists()
  proc = _launch(tmp_path)                                  # resume: same config, no debug exit

  assert "resuming" in proc.stdout
  _, got = _metrics(tmp_path)
  assert got == want


@pytest.mark.parametrize("where", ["unvalidated_pretrain_epoch", "unvalidated_wake"])
def test_sparse_validation_resumes_to_identical_metrics(tmp_path, where):
  # train.valid_every / idw.validate_wakes: a run killed right after an epoch that was not
  # validated resumes to the uninterrupted run's numbers (history rows with valid None too).
  sparse = ["--config.train.valid_every=2", "--config.idw.validate_wakes=False",
            "--config.idw.wake_max_epochs=1", "--config.idw.max_iterations=2"]
  _launch(tmp_path / "ref", *sparse)
  r, want = _metrics(tmp_path / "ref")
  assert [h["valid"] is None for h in r["history"]] == [True, False, True, True, False]
  # A save is logged as [save, event, phase, iteration] with the phase after it: wake 1's only
  # epoch_end under ("sleep", 1); pretraining's first (unvalidated) epoch under "pretrain".
  log = r["save_log"]
  k = (_first(log, "epoch_end", "pretrain") if where.endswith("epoch") else
       next(s[0] for s in log if s[1:] == ["epoch_end", "sleep", 1]))
  proc = _launch(tmp_path / "run", *sparse, f"--config.debug.exit_after_save={k}", check=False)
  assert proc.returncode == 42, proc.stderr[-2000:]
  proc = _launch(tmp_path / "run", *sparse)
  assert "resuming" in proc.stdout
  assert _metrics(tmp_path / "run")[1] == want


def test_finished_workdir_reprints_and_other_config_is_an_error(reference):
  wd, _ = reference
  proc = _launch(wd)
  assert "HR@20" in proc.stdout
  proc = _launch(wd, "--config.seed=7", check=False)
  assert proc.returncode != 0 and "seed" in proc.stderr


def test_mistyped_field_is_an_error(tmp_path):
  proc = _launch(tmp_path, "--config.model.num_interestz=3", check=False)
  assert proc.returncode != 0 and "num_interestz" in proc.stderr


def test_workdir_in_use_by_another_run_is_an_error(tmp_path):
  import fcntl
  with open(tmp_path / ".lock", "w") as fh:               # another run holds the workdir
    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fh.write("12345")
    fh.flush()
    proc = _launch(tmp_path, check=False)
  assert proc.returncode != 0 and "in use by another run (pid 12345" in proc.stderr
  assert not (tmp_path / "results.json").exists()


def _launch_method(workdir, method, *extra, check=True):
  """Like _launch for another method of the same tiny config."""
  cmd = [sys.executable, str(ROOT / "launch.py"), f"--workdir={workdir}",
         "--config=" + str(ROOT / "configs/synthetic.py") + f":{method}", *COMMON, *extra]
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                        env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=600)
  if check and proc.returncode != 0:
    raise AssertionError(f"launch failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
  return proc


@pytest.fixture(scope="module")
def mur_run(tmp_path_factory):
  """A finished tiny MUR run: MUR-IDW's pretraining, run as a method of its own."""
  wd = tmp_path_factory.mktemp("mur")
  _launch_method(wd, "mur")
  return wd


def test_reused_pretraining_gives_the_standalone_numbers(reference, mur_run, tmp_path):
  """MUR-IDW started from a finished MUR run ends with the uninterrupted MUR-IDW's numbers."""
  _, want = _metrics(reference[0])
  proc = _launch(tmp_path, f"--config.idw.pretrained_workdir={mur_run}")
  assert "pretraining reused from" in proc.stdout
  r, got = _metrics(tmp_path)
  assert got == want
  assert r["pretrained_from"] == str(mur_run)
  assert [p["phase"] for p in r["phases"]] == ["pretrain", "sleep 0", "wake 1", "sleep 1",
                                               "calibrate", "evaluate"]
  # Resuming ignores where the pretraining came from (it no longer matters).
  assert "HR@20" in _launch(tmp_path).stdout


def test_reused_pretraining_must_match(reference, mur_run, tmp_path):
  proc = _launch(tmp_path / "a", f"--config.idw.pretrained_workdir={mur_run}",
                 "--config.seed=3", check=False)
  assert proc.returncode != 0 and "pretrained_workdir" in proc.stderr and "seed" in proc.stderr
  proc = _launch(tmp_path / "b", f"--config.idw.pretrained_workdir={reference[0]}", check=False)
  assert proc.returncode != 0 and "'mur_idw' run" in proc.stderr
  proc = _launch(tmp_path / "c", f"--config.idw.pretrained_workdir={tmp_path / 'none'}",
                 check=False)
  assert proc.returncode != 0 and "no checkpoint" in proc.stderr
  proc = _launch_method(tmp_path / "d", "mur", f"--config.idw.pretrained_workdir={mur_run}",
                        check=False)
  assert proc.returncode != 0 and "only IDW methods" in proc.stderr


def _corrupt(folder: Path):
  """Truncates every file under `folder` to half its size."""
  for f in folder.rglob("*"):
    if f.is_file():
      data = f.read_bytes()
      f.write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize("part", ["state", "everything", "array data"])
def test_damaged_latest_checkpoint_is_set_aside_and_the_run_ends_the_same(reference, tmp_path,
                                                                          part):
  r, want = _metrics(reference[0])
  k = _first(r["save_log"], "sleep")
  proc = _launch(tmp_path, f"--config.debug.exit_after_save={k}", check=False)
  assert proc.returncode == 42, proc.stderr[-2000:]
  newest = tmp_path / "checkpoints" / str(k)
  assert newest.is_dir()
  if part == "array data":   # readable metadata, one array's data gone (Orbax's error
    chunks = sorted((newest / "state").rglob("d/*"))   # then names shapes: not changed data)
    assert chunks
    max(chunks, key=lambda f: f.stat().st_size).unlink()
  else:
    _corrupt(newest / "state" if part == "state" else newest)
  proc = _launch(tmp_path)
  assert f"checkpoint {newest} cannot be read" in proc.stdout
  assert any(p.name.startswith(f"{k}-") for p in (tmp_path / "damaged_checkpoints").iterdir())
  _, got = _metrics(tmp_path)
  assert got == want


def test_no_readable_checkpoint_is_one_line(reference, tmp_path):
  r, _ = _metrics(reference[0])
  k = _first(r["save_log"], "sleep")
  assert _launch(tmp_path, f"--config.debug.exit_after_save={k}", check=False).returncode == 42
  _corrupt(tmp_path / "checkpoints")
  proc = _launch(tmp_path, check=False)
  assert proc.returncode == 1 and "Traceback" not in proc.stderr
  assert "no readable checkpoint in" in proc.stderr.strip().splitlines()[0]


def test_resuming_with_other_shapes_names_the_fields_before_restoring(reference):
  wd, _ = reference
  proc = _launch(wd, "--config.method=sur", check=False)
  assert proc.returncode == 1
  assert "Traceback" not in proc.stderr and "Event loop" not in proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert "another config" in lines[0] and "method" in lines[0] and "num_interests" in lines[0]


def test_next_phase_is_algorithm_1():
  from idw_jax import driver as d
  assert d.next_phase(d.PRETRAIN, is_idw=False) == d.EVALUATE        # baselines
  assert d.next_phase(d.PRETRAIN, is_idw=True) == d.SLEEP
  assert d.next_phase(d.SLEEP, is_idw=True, stop=False) == d.WAKE
  assert d.next_phase(d.WAKE, is_idw=True) == d.SLEEP
  assert d.next_phase(d.SLEEP, is_idw=True, stop=True) == d.CALIBRATE
  assert d.next_phase(d.SLEEP, is_idw=True, stop=True, calibrate=False) == d.EVALUATE
  assert d.next_phase(d.CALIBRATE, is_idw=True) == d.EVALUATE
  assert d.next_phase(d.EVALUATE, is_idw=True) == d.DONE
  with pytest.raises(ValueError):
    d.next_phase(d.DONE, is_idw=True)


# A checkpoint's JSON as the driver wrote it before the run state was split into a cursor and a
# log (one flat dataclass): the layout is unchanged, so such checkpoints restore.
OLD_FLAT_META = {
    "config": {"method": "mur_idw"}, "data": {"items": 50, "windows": 400, "train_examples": 9},
    "phase": "wake", "idw_iter": 2, "epoch": 1, "step": 7, "epochs_total": 9,
    "best_metric": 30.5, "best_valid": {"NDCG@20": 30.5}, "params_valid": None,
    "bad_epochs": 1, "loss_sum": 12.25, "loss_steps": 7, "phase_started": 40.0,
    "elapsed": 51.5, "saves": 14,
    "history": [{"phase": "pretrain", "idw_iter": 0, "epoch": 1, "train_loss": 6.5}],
    "idw_trace": [{"iteration": 0, "weight_change": 2e-3}, {"iteration": 1, "weight_change": 1e-3}],
    "phase_rows": [{"phase": "pretrain", "epochs": 5}], "save_log": [[14, "mid_epoch", "wake", 2]],
    "results": None, "pretrained_from": None, "test_before_calibration": None}


def test_run_state_round_trips_through_checkpoint_json():
  # The run state is saved as JSON beside the arrays: what comes back is what went in.
  from idw_jax.run_state import WAKE, Cursor, RunLog, RunState
  s = RunState(config={"method": "mur"}, cursor=Cursor(phase=WAKE, idw_iter=3, epoch=1, step=7,
                                                       best_metric=61.5),
               log=RunLog(history=({"phase": "pretrain", "epoch": 1},),
                          idw_trace=({"iteration": 0, "weight_change": 2e-3},),
                          save_log=([1, "epoch_end", "pretrain", 0],)))
  back = RunState.from_json(json.loads(json.dumps(s.to_json())))
  assert back == s
  # The data fingerprint: a top-level key of the flat JSON beside "data" (none: no key).
  s = RunState(s.config, s.data, s.cursor, s.log, data_fingerprint="sha256:" + "ab" * 32)
  assert s.to_json()["data_fingerprint"] == "sha256:" + "ab" * 32
  assert RunState.from_json(json.loads(json.dumps(s.to_json()))) == s


def test_an_old_flat_checkpoint_loads_into_the_cursor_and_the_log():
  from idw_jax.run_state import Cursor, RunState
  run = RunState.from_json(json.loads(json.dumps(OLD_FLAT_META)))
  old = OLD_FLAT_META
  assert run.cursor == Cursor(phase="wake", idw_iter=2, epoch=1, step=7, epochs_total=9,
                              best_metric=30.5, best_valid={"NDCG@20": 30.5}, bad_epochs=1,
                              loss_sum=12.25, loss_steps=7, phase_started=40.0, elapsed=51.5,
                              saves=14)
  assert [list(getattr(run.log, k)) for k in ("history", "idw_trace", "phase_rows", "save_log")
          ] == [old[k] for k in ("history", "idw_trace", "phase_rows", "save_log")]
  assert (run.config, run.data) == (old["config"], old["data"])
  # Saved again, it is the same JSON, key for key and in the same order (readers of
  # meta["phase"], e.g. idw_jax/recommend.py, see what they saw).
  assert list(run.to_json().items()) == list(old.items())
  # A checkpoint from before a field existed restores with that field's default.
  older = {k: v for k, v in old.items()
           if k not in ("pretrained_from", "results", "test_before_calibration", "data")}
  run = RunState.from_json(older)
  assert run.log.pretrained_from is None and run.log.results is None and run.data is None
  assert run.cursor.idw_iter == 2 and run.log.test_before_calibration is None


def test_a_run_on_changed_data_is_an_error_and_its_checkpoints_stay(tmp_path):
  """A workdir whose data file changed under the same name (same config, other sizes) is an
  error naming the sizes; a checkpoint from before the sizes were stored is named by its
  shapes. Neither is taken for a damaged checkpoint and moved aside."""
  import jax.numpy as jnp
  from idw_jax import checkpoints
  from tests.tiny import tiny_config
  cfg = tiny_config().to_dict()
  ck = checkpoints.RunCheckpoints(tmp_path, 3, lambda *a, **k: None)
  six = {"w": jnp.zeros(6, jnp.float32)}
  ck.save(1, six, {"config": cfg, "data": {"items": 5, "windows": 8}})
  ck.wait()
  ten = {"w": jnp.zeros(10, jnp.float32)}
  with pytest.raises(ValueError, match=r"other data \(items 5 -> 9\)"):
    ck.restore(ten, cfg, {"items": 9, "windows": 8})
  ck.save(2, six, {"config": cfg})
  ck.wait()
  with pytest.raises(ValueError, match="checkpoint 2 holds arrays of other shapes"):
    ck.restore(ten, cfg, {"items": 9, "windows": 8})
  assert not (tmp_path / "damaged_checkpoints").exists()
  arrays, meta = ck.restore(six, cfg, {"items": 5, "windows": 8})
  assert arrays["w"].shape == (6,) and "data" not in meta        # the right shapes restore
