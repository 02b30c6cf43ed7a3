"""Times the blocked KDE of the sleep phase (every item against every item) and prints one JSON line.

  python benchmarks/kde.py --items 200000 --dim 16 [--block-q 2048 --block-n 2048 --repeats 1]

Compilation is timed separately (ahead-of-time lower + compile); `seconds` is the best of --repeats calls
of the compiled function (block_until_ready).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
from idw_jax import density  # pylint: disable=g-import-not-at-top


def _device_peak_mb() -> float | None:
  """Peak device memory in MB where the backend reports it (GPU/TPU), else None."""
  stats = jax.devices()[0].memory_stats() or {}
  peak = stats.get("peak_bytes_in_use")
  return None if peak is None else peak / 2**20


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--items", type=int, default=200_000)
  parser.add_argument("--dim", type=int, default=16)
  parser.add_argument("--block-q", type=int, default=None, help="default: density.default_blocks()")
  parser.add_argument("--block-n", type=int, default=None, help="default: density.default_blocks()")
  parser.add_argument("--repeats", type=int, default=1)
  parser.add_argument("--impl", default="xla", choices=density.IMPLS, help="pallas: fused GPU kernel")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)

  block_q, block_n = density.default_blocks(impl=args.impl)
  block_q, block_n = args.block_q or block_q, args.block_n or block_n
  rng = np.random.default_rng(args.seed)
  x = jnp.asarray(rng.normal(size=(args.items, args.dim)).astype(np.float32))
  w = jnp.asarray(rng.uniform(0.1, 1.0, size=args.items).astype(np.float32))
  bandwidth = density.scott_bandwidth(x)

  fn = jax.jit(lambda pts, wts, bw: density.kde(
      pts, pts, wts, bw, block_q=block_q, block_n=block_n, impl=args.impl))
  start = time.perf_counter()
  compiled = fn.lower(x, w, bandwidth).compile()
  compile_seconds = time.perf_counter() - start
  times, cpu_times = [], []
  for _ in range(args.repeats):
    start, cpu_start = time.perf_counter(), time.process_time()
    compiled(x, w, bandwidth).block_until_ready()
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
  seconds = min(times)
  result = {
      "benchmark": "kde",
      "device": jax.devices()[0].device_kind,
      "platform": jax.default_backend(),
      "num_devices": jax.device_count(),
      "items": args.items,
      "dim": args.dim,
      "block_q": block_q,
      "block_n": block_n,
      "impl": args.impl,
      "seconds": round(seconds, 4),
      "cpu_seconds": round(min(cpu_times), 4),  # process CPU time of the best call: robust to a busy host
      "compile_seconds": round(compile_seconds, 4),
      "pairs_per_s": float(f"{args.items**2 / seconds:.4g}"),
      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
  }
  device_peak = _device_peak_mb()
  if device_peak is not None:
    result["device_peak_mb"] = round(device_peak, 1)
  print(json.dumps(result), flush=True)
  return result


if __name__ == "__main__":
  main(sys.argv[1:])
