"""The IDW state machine end to end: phases, results.json, resume and its checks.

The finished runs are the session's (tests/conftest.py: mur_idw_run, mur_run, made in this
process); what only a process can show (killed and resumed, one-line errors) runs launch.py with
the same config (tests.tiny.RUN_OVERRIDES), so its numbers equal the in-process run's bit for bit.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from tests.tiny import RUN_OVERRIDES
from tests.tiny import copy_run
from tests.tiny import tiny_run

ROOT = Path(__file__).resolve().parents[1]
COMMON = RUN_OVERRIDES


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


@pytest.fixture
def reference(mur_idw_run):
  """An uninterrupted tiny MUR-IDW run (the session's, in process): its folder and output."""
  return mur_idw_run.workdir, mur_idw_run.stdout


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


def _kill(workdir, k, *extra):
  """launch.py of the reference's config (and `extra` flags) in `workdir`, killed as a crash
  would kill it: os._exit right after checkpoint k (debug.exit_after_save)."""
  proc = _launch(workdir, f"--config.debug.exit_after_save={k}", *extra, check=False)
  assert proc.returncode == 42, proc.stderr[-2000:]
  assert not (Path(workdir) / "results.json").exists()


@pytest.fixture(scope="module")
def killed_after_sleep(mur_idw_run, tmp_path_factory):
  """The reference's run killed right after the first sleep's checkpoint k: (folder, k). Copy
  the folder to resume or damage it."""
  k = _first(mur_idw_run.results["save_log"], "sleep")
  wd = tmp_path_factory.mktemp("killed")
  _kill(wd, k)
  return wd, k


# A killed run is a launch.py process; its resume runs here (tests.tiny.tiny_run: the same
# config and code path as launch.py without a debug exit).
@pytest.mark.slow      # a launch.py process, killed
@pytest.mark.xdist_group("tests.test_driver")   # [sleep] reads killed_after_sleep (module scope)
@pytest.mark.parametrize("where", ["sleep", "mid_epoch_wake", "during_save"])
def test_killed_run_resumes_to_identical_metrics(reference, tmp_path, where, request):
  ref_wd, _ = reference
  r, want = _metrics(ref_wd)
  log = r["save_log"]
  if where == "sleep":
    copy_run(request.getfixturevalue("killed_after_sleep")[0], tmp_path / "run")
  elif where == "mid_epoch_wake":
    _kill(tmp_path / "run", _first(log, "mid_epoch", "wake"))
  else:
    _kill(tmp_path / "run", _first(log, "epoch_end", "pretrain") + 1,
          "--config.debug.exit_during_save=True")
  run = tiny_run("mur_idw", tmp_path / "run")               # resume: same config, no debug exit

  assert "resuming" in run.stdout
  _, got = _metrics(tmp_path / "run")
  assert got == want


# train.valid_every / idw.validate_wakes on the reference's config.
SPARSE = {"train.valid_every": 2, "idw.validate_wakes": False, "idw.wake_max_epochs": 1,
          "idw.max_iterations": 2}


@pytest.fixture(scope="module")
def sparse_run(tmp_path_factory):
  """An uninterrupted run validating sparsely (SPARSE), in process."""
  return tiny_run("mur_idw", tmp_path_factory.mktemp("sparse"), **SPARSE)


@pytest.mark.slow      # a launch.py process, killed
@pytest.mark.parametrize("where", ["unvalidated_pretrain_epoch", "unvalidated_wake"])
def test_sparse_validation_resumes_to_identical_metrics(sparse_run, tmp_path, where):
  # train.valid_every / idw.validate_wakes: a run killed right after an epoch that was not
  # validated resumes to the uninterrupted run's numbers (history rows with valid None too).
  sparse = [f"--config.{k}={v}" for k, v in SPARSE.items()]
  r, want = _metrics(sparse_run.workdir)
  assert [h["valid"] is None for h in r["history"]] == [True, False, True, True, False]
  # A save is logged as [save, event, phase, iteration] with the phase after it: wake 1's only
  # epoch_end under ("sleep", 1); pretraining's first (unvalidated) epoch under "pretrain".
  log = r["save_log"]
  k = (_first(log, "epoch_end", "pretrain") if where.endswith("epoch") else
       next(s[0] for s in log if s[1:] == ["epoch_end", "sleep", 1]))
  _kill(tmp_path / "run", k, *sparse)
  run = tiny_run("mur_idw", tmp_path / "run", **SPARSE)
  assert "resuming" in run.stdout
  assert _metrics(tmp_path / "run")[1] == want


def test_finished_workdir_reprints_and_other_config_is_an_error(reference, tmp_path):
  wd = copy_run(reference[0], tmp_path / "run")
  assert "HR@20" in tiny_run("mur_idw", wd).stdout
  with pytest.raises(ValueError, match="another config.*seed"):
    tiny_run("mur_idw", wd, seed=7)


def test_mistyped_field_is_an_error(tmp_path):
  proc = _launch(tmp_path, "--config.model.num_interestz=3", check=False)
  assert proc.returncode != 0 and "num_interestz" in proc.stderr


def test_workdir_in_use_by_another_run_is_an_error(tmp_path):
  import fcntl
  with open(tmp_path / ".lock", "w") as fh:               # another run holds the workdir
    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)        # (flock: per open file, so this
    fh.write("12345")                                     # process's run is refused too)
    fh.flush()
    with pytest.raises(RuntimeError, match=r"in use by another run \(pid 12345"):
      tiny_run("mur_idw", tmp_path)
  assert not (tmp_path / "results.json").exists()


@pytest.mark.slow      # the sleep, wake and calibration phases of a run
def test_reused_pretraining_gives_the_standalone_numbers(reference, mur_run, tmp_path):
  """MUR-IDW started from a finished MUR run ends with the uninterrupted MUR-IDW's numbers."""
  _, want = _metrics(reference[0])
  mur = str(mur_run.workdir)
  run = tiny_run("mur_idw", tmp_path, **{"idw.pretrained_workdir": mur})
  assert "pretraining reused from" in run.stdout
  r, got = _metrics(tmp_path)
  assert got == want
  assert r["pretrained_from"] == mur
  assert [p["phase"] for p in r["phases"]] == ["pretrain", "sleep 0", "wake 1", "sleep 1",
                                               "calibrate", "evaluate"]
  # Resuming ignores where the pretraining came from (it no longer matters).
  assert "HR@20" in tiny_run("mur_idw", tmp_path).stdout


def test_reused_pretraining_must_match(reference, mur_run, tmp_path):
  def reuse(workdir, source, **fields):
    return tiny_run("mur_idw", tmp_path / workdir,
                    **{"idw.pretrained_workdir": str(source), **fields})
  with pytest.raises(ValueError, match="pretrained_workdir.*seed"):
    reuse("a", mur_run.workdir, seed=3)
  with pytest.raises(ValueError, match="'mur_idw' run"):
    reuse("b", reference[0])
  with pytest.raises(ValueError, match="no checkpoint"):
    reuse("c", tmp_path / "none")
  assert not any((tmp_path / w / "results.json").exists() for w in "abc")
  with pytest.raises(ValueError, match="only IDW methods"):
    tiny_run("mur", tmp_path / "d", **{"idw.pretrained_workdir": str(mur_run.workdir)})


def _corrupt(folder: Path):
  """Truncates every file under `folder` to half its size."""
  for f in folder.rglob("*"):
    if f.is_file():
      data = f.read_bytes()
      f.write_bytes(data[:len(data) // 2])


@pytest.mark.slow      # a launch.py process, killed
@pytest.mark.parametrize("part", ["state", "everything", "array data"])
def test_damaged_latest_checkpoint_is_set_aside_and_the_run_ends_the_same(
    reference, killed_after_sleep, tmp_path, part):
  _, want = _metrics(reference[0])
  wd, k = copy_run(killed_after_sleep[0], tmp_path / "run"), killed_after_sleep[1]
  newest = wd / "checkpoints" / str(k)
  assert newest.is_dir()
  if part == "array data":   # readable metadata, one array's data gone (Orbax's error
    chunks = sorted((newest / "state").rglob("d/*"))   # then names shapes: not changed data)
    assert chunks
    max(chunks, key=lambda f: f.stat().st_size).unlink()
  else:
    _corrupt(newest / "state" if part == "state" else newest)
  run = tiny_run("mur_idw", wd)                              # resume
  assert f"checkpoint {newest} cannot be read" in run.stdout
  assert any(p.name.startswith(f"{k}-") for p in (wd / "damaged_checkpoints").iterdir())
  _, got = _metrics(wd)
  assert got == want


@pytest.mark.slow      # launch.py processes: one killed, one that finds nothing to resume
def test_no_readable_checkpoint_is_one_line(killed_after_sleep, tmp_path):
  wd = copy_run(killed_after_sleep[0], tmp_path / "run")
  _corrupt(wd / "checkpoints")
  proc = _launch(wd, check=False)
  assert proc.returncode == 1 and "Traceback" not in proc.stderr
  assert "no readable checkpoint in" in proc.stderr.strip().splitlines()[0]


def test_resuming_with_other_shapes_names_the_fields_before_restoring(reference, tmp_path):
  wd = copy_run(reference[0], tmp_path / "run")
  with pytest.raises(ValueError, match="another config") as error:
    tiny_run("sur", wd)
  assert "method" in str(error.value) and "num_interests" in str(error.value)


@pytest.mark.slow      # a launch.py process: what the user sees of that error
def test_resuming_with_other_shapes_is_one_line_and_ends_cleanly(reference, tmp_path):
  wd = copy_run(reference[0], tmp_path / "run")
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
