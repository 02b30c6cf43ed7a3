"""The multi-host path: two processes of launch.py joined by jax.distributed, on this machine.

Each process has one CPU device (JAX_PLATFORMS=cpu) and the two talk through JAX's CPU
collectives (gloo, the default of the installed jax 0.10; set explicitly below). They share one
workdir, as hosts share a file system. The same tiny config, seed and data on ONE process with
two devices (--xla_force_host_platform_device_count=2) is the reference: the mesh is the same
(1-D "data" over 2 devices), so the programs are the same and the results must be too.

The commands (what the README's multi-host instructions can show), from the repository root:

  # process 0 (the coordinator; on a real cluster: that host's address)
  JAX_PLATFORMS=cpu JAX_CPU_COLLECTIVES_IMPLEMENTATION=gloo python launch.py \\
      --config=configs/synthetic.py:mur --workdir=WORKDIR <tiny overrides> \\
      --config.distributed.initialize=True \\
      --config.distributed.coordinator_address=localhost:PORT \\
      --config.distributed.num_processes=2 --config.distributed.process_id=0
  # process 1: the same line with --config.distributed.process_id=1
  # reference: one process, two devices
  JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=2 python launch.py \\
      --config=configs/synthetic.py:mur --workdir=REFDIR <tiny overrides>

What made it run (each in the library, kept by this test): ranks split over both processes'
devices are gathered before they reach the host (sharding.to_host); process-local arrays bound
for a mesh that spans processes go through host memory (sharding.replicate / shard_leading);
the run state's scalars (item weights, RNG key, learning rate) live on the mesh, as Orbax's
multi-host save requires.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny import TINY_OVERRIDES

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--config=configs/synthetic.py:mur", *TINY_OVERRIDES,  # batch_size 32: 2 devices
         "--config.model.embed_dim=8", "--config.model.num_heads=2",
         "--config.model.num_layers=1", "--config.model.item_mlp_dims=(8, 8)"]
TIMEOUT = 240

# Installed in both processes (PYTHONPATH=<dir with this file>): logs every Python-level write
# (open for writing, mkdir, rename/replace, remove) with its absolute path. Orbax's array data
# goes through TensorStore (C++), unseen here; the checkpoint folder is compared by names below.
SITECUSTOMIZE = '''
import os, sys
_log = open(os.environ["IDW_TEST_WRITE_LOG"], "a", buffering=1)
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATHS = {"os.mkdir": 1, "os.rename": 2, "os.remove": 1, "os.rmdir": 1, "shutil.rmtree": 1}

def _hook(event, args):
  if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)) and args[2] & _WRITE:
    paths = args[:1]
  elif event in _PATHS:
    paths = args[:_PATHS[event]]
  else:
    return
  for p in paths:
    if isinstance(p, (str, bytes, os.PathLike)):
      _log.write(event + "\\t" + os.path.abspath(os.fsdecode(p)) + "\\n")

sys.addaudithook(_hook)
'''


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _env(**extra) -> dict:
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PYTHONPATH")}
  return {**env, "JAX_PLATFORMS": "cpu", **extra}


def _start(flags, env, log: Path):
  out = open(log, "w")
  return subprocess.Popen([sys.executable, "launch.py", *flags], cwd=ROOT, env=env,
                          stdout=out, stderr=subprocess.STDOUT, text=True), out


def _finish(procs):
  """Waits for every process; kills the rest when one hangs (e.g. its peer died at start)."""
  try:
    for proc, _ in procs:
      proc.wait(timeout=TIMEOUT)
  finally:
    for proc, out in procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
      out.close()
  return [proc.returncode for proc, _ in procs]


def _comparable(results: dict) -> dict:
  return {"test": results["test"], "valid": results["valid"],
          "silhouette": results["silhouette"],
          "history": [{k: v for k, v in h.items() if k not in ("seconds", "timing")}
                      for h in results["history"]]}


def _names(folder: Path, skip_process_1: bool = False) -> set[str]:
  """Relative paths under folder; names made of a hash (Orbax's data files) or of the time
  (TensorBoard's event file) made generic."""
  names = set()
  for p in folder.rglob("*"):
    rel = p.relative_to(folder).as_posix()
    if skip_process_1 and "process_1" in rel:
      continue
    parts = rel.split("/")
    if len(parts) >= 2 and parts[-2] in ("d", "tensorboard"):
      parts[-1] = "<generic>"
    names.add("/".join(parts))
  return names


@pytest.mark.slow
def test_two_processes_match_one_process_with_two_devices(tmp_path):
  shared, ref = tmp_path / "shared", tmp_path / "ref"
  hook = tmp_path / "hook"
  hook.mkdir()
  (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
  dist = ["--config.distributed.initialize=True",
          f"--config.distributed.coordinator_address=localhost:{_free_port()}",
          "--config.distributed.num_processes=2"]
  env = _env(JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo")
  writes = {i: tmp_path / f"writes{i}.txt" for i in (0, 1)}
  procs = [
      _start([*FLAGS, f"--workdir={shared}", *dist, f"--config.distributed.process_id={i}"],
             {**env, "PYTHONPATH": str(hook), "IDW_TEST_WRITE_LOG": str(writes[i])},
             tmp_path / f"process{i}.log")
      for i in (0, 1)]
  # The reference runs meanwhile (its own workdir): the test's wall time is the longer run.
  procs.append(_start([*FLAGS, f"--workdir={ref}"],
                      _env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
                      tmp_path / "ref.log"))
  codes = _finish(procs)
  logs = {name: (tmp_path / f"{name}.log").read_text()
          for name in ("process0", "process1", "ref")}
  assert codes == [0, 0, 0], "\n\n".join(f"== {k}\n{v[-3000:]}" for k, v in logs.items())

  got = json.loads((shared / "results.json").read_text())
  want = json.loads((ref / "results.json").read_text())
  # Exact: the same program on the same 1-D mesh of 2 devices, the gradients summed over the
  # same two halves of each batch; only the transport of the all-reduce differs (gloo between
  # processes vs. in-process), and a sum of two floats does not depend on it.
  assert _comparable(got) == _comparable(want)
  assert got["test"]["full"]["overall"]["count"] > 0
  assert got["device"] == {**want["device"], "processes": 2}
  assert want["device"]["processes"] == 1 and want["device"]["mesh"] == {"data": 2}

  # Logs: only process 0 prints (summary, phases, results); process 1 only gloo's line.
  assert "| Dataset" in logs["process0"] and f"results: {shared}" in logs["process0"]
  quiet = [line for line in logs["process1"].splitlines()
           if line.strip() and not line.startswith("[Gloo]")]
  assert not quiet, quiet

  # Files: the shared workdir holds what the one-process run writes, plus Orbax's per-process
  # checkpoint pieces of process 1 (collective checkpointing) and nothing else.
  assert _names(shared, skip_process_1=True) == _names(ref)
  assert len(list((shared / "tensorboard").iterdir())) == 1

  # Process 1's own writes into the workdir: checkpoints only (Orbax), and the workdir itself
  # (Driver makes it on every process). The same hook sees process 0's results.json.
  def written(i):
    return {line.split("\t")[1] for line in writes[i].read_text().splitlines()}
  assert str(shared / "results.json.tmp") in written(0)
  inside = {p for p in written(1) if p == str(shared) or p.startswith(str(shared) + os.sep)}
  stray = {p for p in inside - {str(shared)} if not p.startswith(str(shared / "checkpoints"))}
  assert not stray, sorted(stray)
