"""Times the blocked KDE of the sleep phase (every item against every item) and prints one JSON
line.

  python benchmarks/kde.py --items 200000 --dim 16 [--block_q 2048 --block_n 2048 --repeats 1]

Compilation is timed separately (ahead-of-time lower + compile); `seconds` is the best of --repeats
calls of the compiled function (block_until_ready).

Flags (absl, `--help` lists them): --items, --dim, --block_q / --block_n (also --block-q /
--block-n; default density.default_blocks()), --repeats, --impl (xla or pallas), --seed.
"""

from __future__ import annotations

import json
import pathlib
import resource
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

# Run from a checkout, uninstalled.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from idw_jax import density  # pylint: disable=g-import-not-at-top,wrong-import-position


def _device_peak_mb() -> float | None:
  """Peak device memory in MB where the backend reports it (GPU/TPU), else None."""
  stats = jax.devices()[0].memory_stats() or {}
  peak = stats.get("peak_bytes_in_use")
  return None if peak is None else peak / 2**20


def _define_flags():
  flags.DEFINE_integer("items", 200_000, "Points (items).")
  flags.DEFINE_integer("dim", 16, "Their dimension.")
  flags.DEFINE_integer("block_q", None, "Query block (default: density.default_blocks()).")
  flags.DEFINE_integer("block_n", None, "Point block (default: density.default_blocks()).")
  flags.DEFINE_alias("block-q", "block_q")
  flags.DEFINE_alias("block-n", "block_n")
  flags.DEFINE_integer("repeats", 1, "Timed calls; the best counts.")
  flags.DEFINE_enum("impl", "xla", list(density.IMPLS), "pallas: the fused GPU kernel.")
  flags.DEFINE_integer("seed", 0, "Seed of the random points and weights.")


def main(argv) -> int:
  if len(argv) > 1:
    raise ValueError(f"unexpected argument(s) {argv[1:]} (--help lists the flags)")
  args = flags.FLAGS

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
      # Process CPU time of the best call: robust to a busy host.
      "cpu_seconds": round(min(cpu_times), 4),
      "compile_seconds": round(compile_seconds, 4),
      "pairs_per_s": float(f"{args.items**2 / seconds:.4g}"),
      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
  }
  device_peak = _device_peak_mb()
  if device_peak is not None:
    result["device_peak_mb"] = round(device_peak, 1)
  print(json.dumps(result), flush=True)
  return 0


if __name__ == "__main__":
  from idw_jax import cli  # pylint: disable=g-import-not-at-top
  _define_flags()
  cli.run(main)
