"""A run's Orbax checkpoints: the whole state (arrays + a JSON meta) at every save.

Reading is defensive: the stored config is read alone and compared first (a run with other
shapes is a one-line error naming the fields, not a restore failure), then the data's
fingerprint and size; a checkpoint that cannot be read is set aside with the reason said, so
the run resumes from the newest readable one. `read_finished_run` reads another run the same
way (recommend, export, a reused pretraining). `resume` and `reuse_pretraining` are where a run
starts from other than a fresh state; `ExitAfterSave` is the crash of resume tests
(config.debug). A full disk while saving is one line naming the folder.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import jax
import orbax.checkpoint as ocp

from idw_jax import logs
from idw_jax import observers
from idw_jax import workdir as workdir_lib
from idw_jax.data import fingerprint as fingerprints
from idw_jax.run_state import DONE, EVALUATE, PRETRAIN, Cursor, RunLog, RunState


def data_change(stored: dict, now: dict) -> str:
  """'items 6 -> 10, windows 80 -> 95': how the data of a stored run differs from now."""
  return ", ".join(f"{k} {stored.get(k)} -> {now.get(k)}" for k in now
                   if stored.get(k) != now.get(k))


def data_size(splits) -> dict:
  """The size of a run's data, stored in its checkpoints and compared on resume."""
  return {"items": int(splits.num_items), "windows": int(splits.num_windows),
          "train_examples": int(splits.num_train_examples)}


def _abstract(template):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, template)


class RunCheckpoints:
  """<workdir>/checkpoints: the latest `keep` saves (a phase's best parameters live in the
  state itself)."""

  def __init__(self, workdir: Path, keep: int, echo: Callable[..., None]):
    self.workdir, self.echo = Path(workdir), echo
    with logs.quiet():   # a damaged checkpoint is reported by restore(), once
      self.manager = ocp.CheckpointManager(
          (self.workdir / "checkpoints").absolute(),
          options=ocp.CheckpointManagerOptions(create=True, max_to_keep=keep))

  def save(self, step: int, arrays, meta: dict):
    """Starts writing checkpoint `step`; it finishes in the background (arrays are immutable,
    meta is snapshotted now), and the next save or wait() waits for it."""
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(jax.tree.map(lambda x: x, arrays)),
        meta=ocp.args.JsonSave(json.loads(json.dumps(meta, default=str)))))

  def wait(self):
    self.manager.wait_until_finished()

  def restore(self, template, config: dict, data: dict | None = None,
              fingerprint: str | None = None):
    """(arrays, meta) of the newest readable checkpoint, or None when there is none.

    template: arrays of the right structure, shapes and dtypes; config: the run's config dict,
    which the stored one must equal (workdir.config_diff); data: the size of the run's data,
    which the stored one (meta["data"], where the checkpoint has it) must equal; fingerprint:
    the data's (data/fingerprint.py), which the stored one must equal where the checkpoint has
    one. A checkpoint that cannot be read is moved to <workdir>/damaged_checkpoints/ and the
    next older one is tried; one whose arrays have other shapes than the template is not
    damaged: that is an error (the data changed under the same file name), and nothing is moved.
    """
    def check(meta):
      diff = workdir_lib.config_diff(meta["config"], config)
      if diff:
        raise ValueError(f"{self.workdir} holds a run with another config ({diff}); use a new "
                         "--workdir or the same config")
      line = fingerprints.mismatch(f"the run in {self.workdir}", meta.get("data_fingerprint"),
                                   fingerprint)
      if line:
        raise ValueError(f"{line}; a new --workdir trains on the file as it is now")
      if data is not None and meta.get("data") is not None and meta["data"] != data:
        change = data_change(meta["data"], data)
        raise ValueError(f"{self.workdir} holds a run on other data ({change}): the file behind "
                         "data.path has changed since the run started; use a new --workdir, or "
                         "the run's data")
    found = newest_readable(self.manager, self.workdir, self.echo, check, template)
    if found is not None:
      return found[1:]
    if not (self.workdir / "damaged_checkpoints").exists():
      return None
    raise _none_readable(self.workdir)


def _none_readable(workdir: Path) -> ValueError:
  return ValueError(f"no readable checkpoint in {workdir / 'checkpoints'} (the damaged ones "
                    f"are in {workdir / 'damaged_checkpoints'}); start again with a new --workdir")


def _other_shapes(workdir: Path, step: int, e: Exception) -> ValueError:
  reason = " ".join(f"{type(e).__name__}: {e}".split())[:200]
  return ValueError(f"{workdir}: checkpoint {step} holds arrays of other shapes than this run "
                    f"builds ({reason}); the data behind data.path has probably changed since "
                    "the run started; use a new --workdir, or the run's data")


def _restore_arrays(manager, step: int, template):
  """The arrays of checkpoint `step`: as `template` (shapes, dtypes, shardings), or as stored
  (template None)."""
  with logs.quiet():   # Orbax logs its own failure before raising it
    return manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(
        None if template is None else _abstract(template))))["state"]


def newest_readable(manager, workdir: Path, echo: Callable[..., None],
                    check: Callable[[dict], None], template=None):
  """(step, arrays, meta) of the newest checkpoint of `manager` whose meta and arrays read, or
  None. check(meta) raises for a checkpoint of another run (nothing is moved); a checkpoint
  that cannot be read is set aside (`set_aside`) and the next older one tried; arrays of other
  shapes than `template` are an error, not damage."""
  for step in sorted(manager.all_steps(), reverse=True):
    try:
      with logs.quiet():   # Orbax logs its own failure before raising it
        meta = dict(manager.restore(step, args=ocp.args.Composite(
            meta=ocp.args.JsonRestore()))["meta"])
    except Exception as e:  # pylint: disable=broad-except
      set_aside(manager, workdir, step, e, echo)
      continue
    check(meta)
    try:
      arrays = _restore_arrays(manager, step, template)
    except Exception as e:  # pylint: disable=broad-except
      if "not compatible with the stored shape" in str(e):   # readable, not this run's
        raise _other_shapes(workdir, step, e) from None
      set_aside(manager, workdir, step, e, echo)
      continue
    return step, arrays, meta
  return None


def set_aside(manager, workdir: Path, step: int, error: Exception, echo: Callable[..., None]):
  """Moves an unreadable checkpoint to <workdir>/damaged_checkpoints/ (out of Orbax's way: its
  number will be saved again) and says which and why."""
  reason = " ".join(f"{type(error).__name__}: {error}".split())[:200]
  echo(f"checkpoint {workdir / 'checkpoints' / str(step)} cannot be read ({reason}); "
       "moved to damaged_checkpoints/, trying the previous one", flush=True)
  if jax.process_index() == 0:
    aside = workdir / "damaged_checkpoints"
    aside.mkdir(exist_ok=True)
    os.replace(workdir / "checkpoints" / str(step), aside / f"{step}-{int(time.time())}")
  with logs.quiet():
    manager.reload()


def _on_stderr(msg: str, **_):
  print(msg, file=sys.stderr, flush=True)


def read_finished_run(source: Path, field: str, echo: Callable[..., None] | None = None):
  """(meta, load) of the newest readable checkpoint of another run: the run recommend and
  export serve, the pretraining an IDW run reuses. Read as launch.py resumes: a damaged
  checkpoint is set aside with one line (`echo`, default stderr) and the previous one read;
  none readable is one line. load(template) gives its arrays (as stored: template None); call
  it after checking meta, so that a run of another shape is reported by that check. `field`
  names the config field or flag in errors."""
  source = Path(source)
  ckpt_dir = (source / "checkpoints").absolute()
  found = None
  if ckpt_dir.is_dir():
    with logs.quiet():   # Orbax warns that a read-only manager will not save
      manager = ocp.CheckpointManager(ckpt_dir,
                                      options=ocp.CheckpointManagerOptions(read_only=True))
    found = newest_readable(manager, source, echo or _on_stderr, lambda meta: None)
  if found is None:
    if (source / "damaged_checkpoints").exists():
      raise _none_readable(source)
    raise ValueError(f"{field}: {source} holds no checkpoint")
  step, stored, meta = found

  def load(template):
    try:
      return stored if template is None else _restore_arrays(manager, step, template)
    except Exception as e:  # pylint: disable=broad-except
      if "not compatible with the stored shape" in str(e):
        raise _other_shapes(source, step, e) from None
      raise
    finally:
      manager.close()
  return meta, load


def resume(checkpoints: RunCheckpoints, template, config: dict, data: dict,
           fingerprint: str | None = None):
  """(arrays, RunState) of the run's newest readable checkpoint (RunCheckpoints.restore's
  checks), or None when it has none."""
  restored = checkpoints.restore(template, config, data, fingerprint)
  if restored is None:
    return None
  arrays, run = restored[0], RunState.from_json(restored[1])
  # data and data_fingerprint: None in checkpoints from before them (checked on counts)
  return arrays, RunState(run.config, run.data or data, run.cursor, run.log,
                          run.data_fingerprint or fingerprint)


def start(checkpoints: RunCheckpoints, cfg, template, data: dict, idw_base: str | None,
          fingerprint: str | None = None):
  """(how, arrays, RunState) a run starts from: its newest readable checkpoint ("resumed"),
  else, for an IDW run (idw_base: its base method) with idw.pretrained_workdir, the end of that
  run's pretraining ("pretrained"), else `template`, its fresh arrays ("fresh"). fingerprint:
  its data's (data/fingerprint.py), which a stored one must equal."""
  config = cfg.to_dict()
  restored = resume(checkpoints, template, config, data, fingerprint)
  if restored is not None:
    return ("resumed", *restored)
  if idw_base and cfg.idw.pretrained_workdir:
    return ("pretrained", *reuse_pretraining(cfg.idw.pretrained_workdir, cfg.method, idw_base,
                                             config, data, template, fingerprint=fingerprint,
                                             echo=checkpoints.echo))
  return "fresh", template, RunState(config, data, data_fingerprint=fingerprint)


def reuse_pretraining(source: str, method: str, base: str, config: dict, data: dict, template, *,
                      fingerprint: str | None = None, echo: Callable[..., None] | None = None):
  """(arrays, RunState) at the end of pretraining, from a finished run of the base method.

  An IDW method pretrains exactly as its base (mur for mur_idw) does for its whole run, so
  the base run's final state (evaluation changes no array) is this run's state after
  PRETRAIN, bit for bit. The base's pretraining epochs and seconds are carried over.
  config, data, fingerprint: this run's config dict, data size and data fingerprint, which the
  base's must match; echo: where a damaged checkpoint of the base run is reported.
  """
  src, field = Path(source), "config.idw.pretrained_workdir"
  meta, load = read_finished_run(src, field, echo)
  base_run = RunState.from_json(meta)
  if base_run.config["method"] != base:
    raise ValueError(f"{field}: {src} is a {base_run.config['method']!r} run; {method} "
                     f"reuses the pretraining of {base!r}")
  if base_run.cursor.phase not in (EVALUATE, DONE):
    raise ValueError(f"{field}: {src} has not finished pretraining "
                     f"(phase {base_run.cursor.phase!r})")
  diff = workdir_lib.config_diff(base_run.config, config, ignore=("method", "idw"))
  if diff:
    raise ValueError(f"{field}: {src} has another config ({diff})")
  line = fingerprints.mismatch(f"{field}: {src}", base_run.data_fingerprint, fingerprint)
  if line:
    raise ValueError(line)
  if base_run.data is not None and base_run.data != data:
    raise ValueError(f"{field}: {src} was trained on other data "
                     f"({data_change(base_run.data, data)})")
  arrays = load(template)
  history = tuple(r for r in base_run.log.history if r["phase"] == PRETRAIN)
  rows = tuple(r for r in base_run.log.phase_rows if r["phase"] == PRETRAIN)
  cursor = Cursor(elapsed=rows[-1]["seconds"], epochs_total=len(history),
                  params_valid=base_run.cursor.params_valid)   # evaluation changed no parameter
  log = RunLog(history=history, phase_rows=rows, pretrained_from=str(src))
  return arrays, RunState(config, data, cursor, log, fingerprint)


class ExitAfterSave(observers.Observer):
  """Tests of resume: debug.exit_after_save = k ends the process right after checkpoint k (or,
  with debug.exit_during_save, while it is written), as a crash would."""

  def __init__(self, debug):
    self.k, self.during = debug.exit_after_save, debug.exit_during_save

  def saved(self, save, checkpoints):
    if save != self.k:
      return
    if not self.during:
      checkpoints.wait()
    checkpoints.echo(f"[debug] exiting after checkpoint {self.k}", flush=True)
    os._exit(42)
