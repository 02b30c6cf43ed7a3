"""How a grid computes its runs: one after another in this process (the calls of launch.py,
with a data cache per data config), or as launch.py subprocesses, N at a time, each pinned to
its share of the local GPUs (idw_jax.experiments.grid's docstring says when to use which).

The subprocesses never outlive the grid: each starts in a session of its own (a terminal's
Ctrl-C reaches the grid alone), and the grid ends them when it is interrupted (SIGINT) or
terminated (SIGTERM) or leaves by an exception; a grid killed outright (SIGKILL, the OOM
killer) cannot act, so on Linux every child also asks the kernel to kill it when the grid's
thread that started it dies (prctl PR_SET_PDEATHSIG; elsewhere such children run on, and
each run's workdir lock names them). A run whose workdir is locked is not started: it fails
with the lock's line, naming the pid that holds it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import ctypes
import json
import math
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Iterator, Sequence

from idw_jax import compilation_cache as compilation_cache_lib
from idw_jax import config as config_lib
from idw_jax import workdir as workdir_lib
from idw_jax.experiments import cache
from idw_jax.experiments import records as records_lib
from idw_jax.experiments import specs as specs_lib

# A run to compute: (its index in the grid, 1-based; its record; its finalized config).
Task = tuple[int, cache.RunRecord, object]


def launch_command(spec: specs_lib.RunSpec, workdir: Path,
                   pretrained: Path | None = None) -> list[str]:
  """The launch.py command line that runs `spec` in `workdir` (written beside every run)."""
  cmd = [sys.executable, str(config_lib.repo_root() / "launch.py"),
         f"--config={specs_lib.resolve_config_file(spec.config_file)}:{spec.method},{spec.preset}",
         f"--config.seed={spec.seed}"]
  for key, value in spec.overrides:
    text = repr(tuple(value)) if isinstance(value, (tuple, list)) else str(value)
    cmd.append(f"--config.{key}={text}")
  if pretrained is not None:
    cmd.append(f"--config.idw.pretrained_workdir={pretrained}")
  return cmd + [f"--workdir={workdir}"]


class _DataCache:
  """Splits and dataset summary per data config (in-process runs); keeps the last few."""

  def __init__(self, size: int = 4):
    self.size = size
    self._items: collections.OrderedDict = collections.OrderedDict()

  def get(self, cfg, workdir: Path):
    from idw_jax import driver   # jax, flax, orbax: only when a run is computed here
    tfds_dir = cfg.data.tfds_dir or str(workdir.parent / "tfds")
    key = json.dumps(cfg.data.to_dict(), sort_keys=True, default=str) + "|" + tfds_dir
    if key in self._items:
      self._items.move_to_end(key)
      return self._items[key]
    self._items[key] = driver.load_data(cfg, workdir)
    while len(self._items) > self.size:
      self._items.popitem(last=False)
    return self._items[key]


_DATA = _DataCache()


def _run_in_process(cfg, workdir: Path) -> dict:
  from absl import logging
  from idw_jax import driver
  data = _DATA.get(cfg, workdir)
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.WARNING)          # Orbax logs every save at INFO
  try:
    with open(workdir / "log.txt", "a") as log, contextlib.redirect_stdout(log), \
        contextlib.redirect_stderr(log):
      return driver.run(cfg, workdir, data)
  finally:
    logging.set_verbosity(verbosity)


def _visible_gpus() -> list[str]:
  env = os.environ.get("CUDA_VISIBLE_DEVICES")
  if env is not None:
    return [g for g in env.split(",") if g.strip()]
  try:
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
  except (OSError, subprocess.SubprocessError):
    return []
  return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]


def slot_env(slot: int, jobs: int, cache_dir: str) -> dict[str, str]:
  """Environment of parallel slot `slot`: its GPUs (or a memory share) and the compile cache."""
  env = dict(os.environ)
  if cache_dir and "JAX_COMPILATION_CACHE_DIR" not in env:
    env["JAX_COMPILATION_CACHE_DIR"] = cache_dir
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  gpus = _visible_gpus()
  if gpus and jobs > 1:
    if len(gpus) >= jobs:
      share = len(gpus) // jobs
      env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus[slot * share:(slot + 1) * share])
    else:
      per_gpu = math.ceil(jobs / len(gpus))
      env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
      env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / per_gpu:.2f}"
  return env


_PR_SET_PDEATHSIG = 1   # linux/prctl.h


def _die_with_parent(parent: int) -> Callable[[], None] | None:
  """A preexec_fn (Linux only; None elsewhere) that makes the child get SIGKILL when the
  thread that started it dies, and exits at once when the grid is already gone."""
  if not sys.platform.startswith("linux"):
    return None
  prctl = ctypes.CDLL(None, use_errno=True).prctl   # looked up before the fork

  def preexec():
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
      os._exit(1)
  return preexec


class Interrupted(RuntimeError):
  """The grid was told to stop (SIGTERM) while its launch.py runs were going."""


class _Children:
  """The launch.py subprocesses running now: started in sessions of their own, ended together
  (`stop`), and none started once stopping."""

  def __init__(self):
    self._lock = threading.Lock()
    self._procs: set[subprocess.Popen] = set()
    self.stopping = False

  def run(self, cmd: list[str], **kwargs) -> int:
    """Runs cmd to its end (Popen kwargs); its exit code."""
    with self._lock:
      if self.stopping:
        raise Interrupted("the grid was stopped before this run started")
      # The preexec_fn only calls prctl (resolved before the fork) and getppid: nothing that
      # takes a lock another thread could hold.
      proc = subprocess.Popen(cmd, start_new_session=True, **kwargs,
                              preexec_fn=_die_with_parent(os.getpid()))  # noqa: PLW1509
      self._procs.add(proc)
    try:
      return proc.wait()
    finally:
      with self._lock:
        self._procs.discard(proc)

  def stop(self, grace: float = 10.0):
    """No new child; SIGTERM to every running one's process group, SIGKILL after `grace`."""
    with self._lock:
      self.stopping = True
      procs = list(self._procs)
    for sig in (signal.SIGTERM, signal.SIGKILL):
      for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
          os.killpg(proc.pid, sig)
      deadline = time.time() + grace
      while time.time() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.05)


_CHILDREN = _Children()


def _run_subprocess(workdir: Path, env: dict[str, str], cmd: list[str]) -> dict:
  """launch.py `cmd` in `workdir`, its output appended to log.txt; its results. A workdir
  locked by another run is the lock's error (naming its pid), and nothing is started; a failed
  run's error is the last line this run wrote to log.txt."""
  workdir_lib.lock(workdir).close()
  log_path = workdir / "log.txt"
  start = log_path.stat().st_size if log_path.exists() else 0
  with open(log_path, "a") as log:
    code = _CHILDREN.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                         cwd=config_lib.repo_root())
  if code != 0:
    with open(log_path, "rb") as fh:
      fh.seek(start)
      tail = fh.read().decode(errors="replace").strip().splitlines()[-1:]
    raise RuntimeError(f"launch.py exited with {code}: {' '.join(tail)}")
  return json.loads((workdir / "results.json").read_text())


def compute(rec: cache.RunRecord, cfg, out: Path, reuse_pretraining: bool = True,
            env: dict[str, str] | None = None) -> cache.RunRecord:
  """Computes one run in rec.workdir (in this process, or as launch.py with `env`) and writes
  its record; rec becomes done, resumed or failed (error.txt holds the traceback). An IDW run
  starts from its base run's checkpoints when `reuse_pretraining` finds them."""
  rec.workdir.mkdir(parents=True, exist_ok=True)
  resumed = cache.has_checkpoint(rec.workdir)
  pretrained = None
  if reuse_pretraining and not resumed:
    pretrained = cache.pretrained_workdir(rec.spec, out / "runs")
  if pretrained is not None:
    pretrained = pretrained.absolute()
    cfg = cfg.copy_and_resolve_references()
    cfg.idw.pretrained_workdir = str(pretrained)
  cmd = launch_command(rec.spec, rec.workdir, pretrained)
  (rec.workdir / "launch_command.txt").write_text(shlex.join(cmd) + "\n")
  t0 = time.time()
  try:
    rec.results = (_run_in_process(cfg, rec.workdir) if env is None
                   else _run_subprocess(rec.workdir, env, cmd))
    records_lib.write_record(out, rec.name, rec.results, rec.workdir)
    rec.status = "resumed" if resumed else "done"
    (rec.workdir / "error.txt").unlink(missing_ok=True)   # an earlier attempt's
  except Exception as e:  # pylint: disable=broad-except
    rec.status, rec.error = "failed", f"{type(e).__name__}: {e}".splitlines()[0][:300]
    (rec.workdir / "error.txt").write_text(traceback.format_exc())
  rec.seconds = time.time() - t0
  return rec


def in_process(tasks: Sequence[Task], run: Callable,
               compilation_cache: str) -> Iterator[tuple[int, cache.RunRecord]]:
  """The tasks one after another in this process: run(rec, cfg) each; yields (index, rec)."""
  compilation_cache_lib.enable(compilation_cache)
  for i, rec, cfg in tasks:
    yield i, run(rec, cfg)


def subprocesses(tasks: Sequence[Task], run: Callable, jobs: int,
                 compilation_cache: str) -> Iterator[tuple[int, cache.RunRecord]]:
  """The tasks `jobs` at a time, run(rec, cfg, env=slot_env(...)) each in a thread of its
  own (a launch.py subprocess); yields (index, rec) in the order they finish."""
  slots: queue.Queue = queue.Queue()
  for s in range(jobs):
    slots.put(s)

  def in_slot(rec, cfg):
    slot = slots.get()
    try:
      return run(rec, cfg, env=slot_env(slot, jobs, compilation_cache))
    finally:
      slots.put(slot)

  index = {id(rec): i for i, rec, _ in tasks}
  with _ended_on_signals(), \
      concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
    futures = [pool.submit(in_slot, rec, cfg) for _, rec, cfg in tasks]
    try:
      for fut in concurrent.futures.as_completed(futures):
        rec = fut.result()
        yield index[id(rec)], rec
    except BaseException:   # Ctrl-C, SIGTERM, an error, a caller that stops early
      _CHILDREN.stop()
      pool.shutdown(wait=True, cancel_futures=True)
      raise
    finally:
      _CHILDREN.stopping = False


@contextlib.contextmanager
def _ended_on_signals():
  """SIGTERM raises Interrupted in the main thread (SIGINT raises KeyboardInterrupt already),
  so that `subprocesses` ends its children; the previous handler is restored after."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return

  def handler(signum, frame):
    del frame
    raise Interrupted(f"stopped by signal {signal.Signals(signum).name}: its running launch.py "
                      "runs were ended (rerun the grid to resume them)")
  previous = signal.signal(signal.SIGTERM, handler)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)
