"""Which machine and code produced a run: the CPU (results are bit-identical per CPU only), the
jax/jaxlib versions and the git commit. Stored as results.json's "host" block and so in every
run record; `cpu_identity` is what the tables compare when they warn about a row mixing CPUs."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path

# x86 / ARM vector extensions that change XLA:CPU's kernels (and so the last bits of a result).
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16",
                "avx512_vnni", "amx_tile", "asimd", "sve", "sve2")
UNKNOWN = "CPU unknown"


def _cpuinfo(text: str) -> tuple[str | None, str | None, list[str]]:
  """(model name, "family F model M stepping S", vector extensions) from /proc/cpuinfo's text
  (its first processor block). The family/model numbers tell CPU generations apart that share a
  marketing name (a hypervisor may show just "AMD EPYC")."""
  fields: dict[str, str] = {}
  for line in text.splitlines():
    if not line.strip():
      if fields:
        break               # end of the first processor block
      continue
    key, _, value = line.partition(":")
    fields.setdefault(key.strip().lower(), value.strip())
  model = fields.get("model name") or fields.get("cpu model") or fields.get("hardware") or None
  nums = [(k, fields.get(k)) for k in ("cpu family", "model", "stepping")]
  signature = (" ".join(f"{k.split()[-1]} {v}" for k, v in nums)
               if all(v for _, v in nums) else None)
  present = set((fields.get("flags") or fields.get("features") or "").split())
  return model, signature, [f for f in VECTOR_FLAGS if f in present]


def cpu(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> dict:
  """{"model", "signature", "cores", "vector_extensions"} of this machine (model from platform
  where /proc/cpuinfo is missing, e.g. macOS)."""
  try:
    model, signature, flags = _cpuinfo(Path(cpuinfo).read_text(errors="replace"))
  except OSError:
    model, signature, flags = None, None, []
  return {"model": model or platform.processor() or platform.machine() or None,
          "signature": signature, "cores": os.cpu_count(), "vector_extensions": flags}


def git_commit(root: str | os.PathLike) -> dict:
  """{"commit", "dirty"} of the checkout at root; commit None outside a git checkout."""
  def git(*args):
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          timeout=10)
  try:
    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
      return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
  except (OSError, subprocess.SubprocessError):
    return {"commit": None, "dirty": None}


@functools.lru_cache(maxsize=None)
def host() -> dict:
  """results.json's "host" block: cpu, jax and jaxlib versions, the code's commit."""
  import jax
  import jaxlib
  root = Path(__file__).resolve().parents[1]
  return {"cpu": cpu(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
          **git_commit(root)}


def cpu_identity(results: dict | None) -> str:
  """One string per CPU kind: "<model> (<signature>), <cores> cores, <extensions>"; UNKNOWN for
  a record written before runs named their CPU."""
  block = ((results or {}).get("host") or {}).get("cpu")
  if not block or not block.get("model"):
    return UNKNOWN
  sig = f" ({block['signature']})" if block.get("signature") else ""
  ext = "+".join(block.get("vector_extensions") or []) or "no vector extensions"
  return f"{block['model']}{sig}, {block.get('cores')} cores, {ext}"
