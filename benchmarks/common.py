"""Shared pieces of the benchmark scripts: config loading, splits, device description, timing.

Every script takes `--config=configs/X.py[:method[,preset]]` and any number of
`--set a.b=value` overrides (the value parsed as a Python literal where it is one), and prints
ONE JSON line. Flags are absl's, as in every entry point of the package (idw_jax.cli): a script
defines them when it runs (`define_config_flags` and its own), `--help` lists them, and
`run(measure)` calls measure() with the flags parsed, prints nothing more, exits 0.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import resource
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, uninstalled

import jax  # noqa: E402  # pylint: disable=g-import-not-at-top,wrong-import-position

from idw_jax import config as config_lib  # noqa: E402  # pylint: disable=wrong-import-position


def define_config_flags(default: str) -> None:
  """--config and --set (repeatable) of the scripts that build a config."""
  from absl import flags
  flags.DEFINE_string("config", default,
                      "Config file[:method[,preset]], e.g. configs/ml1m.py:mur_idw.")
  flags.DEFINE_multi_string("set", [], "A config override KEY=VALUE, e.g. --set "
                            "train.batch_size=512 (repeatable).")


def run(measure) -> None:
  """absl's app.run of a benchmark: measure() reads flags.FLAGS and prints its JSON line;
  positional arguments are an error, and so is a user error (one line, idw_jax.cli)."""
  from idw_jax import cli

  def main(argv):
    if len(argv) > 1:
      raise ValueError(f"unexpected argument(s) {argv[1:]} (--help lists the flags)")
    measure()
    return 0
  cli.run(main)


def load_config(spec: str, overrides=()):
  """get_config(arg) of a config file, overrides applied (dotted keys), then finalized."""
  path, _, arg = spec.partition(":")
  path = pathlib.Path(path)
  if not path.is_absolute() and not path.exists():
    path = REPO / path
  module_spec = importlib.util.spec_from_file_location("bench_config", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  cfg = module.get_config(arg or None)
  for item in overrides:
    key, _, value = item.partition("=")
    config_lib.set_field(cfg, key, config_lib.parse_value(value))
  return config_lib.finalize(cfg)


def load_splits(cfg, tfds_dir: str | None = None):
  """(splits, seconds) of the configured dataset (TFDS for real data only if tfds_dir is given)."""
  from idw_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  seqs = pipeline.load_sequences(cfg.data, tfds_dir)
  splits = pipeline.make_splits(cfg.data, seqs)
  return splits, time.perf_counter() - start


def device_info() -> dict:
  d = jax.devices()[0]
  return {"device_kind": d.device_kind, "platform": d.platform, "device_count": jax.device_count()}


def model_info(cfg) -> dict:
  m = cfg.model
  return {"method": cfg.method, "preset": cfg.preset, "embed_dim": m.embed_dim,
          "num_layers": m.num_layers, "num_heads": m.num_heads, "num_interests": m.num_interests,
          "affinity": m.affinity}


def peak_rss_mb() -> float:
  return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Timer:
  """Wall and process-CPU seconds of a block (CPU time is robust to a busy shared host)."""

  def __enter__(self):
    self.start, self.cpu_start = time.perf_counter(), time.process_time()
    return self

  def __exit__(self, *exc):
    self.seconds = time.perf_counter() - self.start
    self.cpu_seconds = time.process_time() - self.cpu_start


def emit(result: dict) -> dict:
  print(json.dumps(result), flush=True)
  return result


def fmt(x: float, digits: int = 4) -> float:
  return float(f"{x:.{digits}g}")


# Host-side wrappers in a jax.profiler trace; what is left are the compiled program's ops.
_WRAPPERS = ("$", "ThunkExecutor", "PjitFunction", "SlinkyThreadPool", "CommonPjRt", "end:",
             "TfrtCpu", "PjRt", "while", "conditional")


def hlo_sources(compiled_text: str) -> dict[str, str]:
  """{HLO instruction name: the JAX op it came from (op_name metadata)} of a compiled program."""
  import re
  out = {}
  for line in compiled_text.splitlines():
    m = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = .*?op_name=\"([^\"]+)\"", line)
    if m:
      out.setdefault(m.group(1), m.group(2))
  return out


def trace_top_ops(folder: str, per: int, n: int = 12, sources: dict | None = None
                  ) -> list[dict]:
  """The n compiled ops with the most time in the newest perfetto trace under `folder`.

  Returns [{"op", "ms" (total / per, e.g. per step), "calls" (/ per), "source"}] from the
  trace that `jax.profiler.start_trace(folder, create_perfetto_trace=True)` wrote; source is
  the op's JAX origin from `sources` (hlo_sources), shortened.
  """
  import collections
  import gzip
  files = sorted(pathlib.Path(folder).glob("plugins/profile/*/perfetto_trace.json.gz"))
  if not files:
    return []
  with gzip.open(files[-1]) as fh:
    trace = json.load(fh)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  total, calls = collections.Counter(), collections.Counter()
  for e in events:
    if e.get("ph") == "X" and not e["name"].startswith(_WRAPPERS):
      total[e["name"]] += e.get("dur", 0)
      calls[e["name"]] += 1
  src = lambda k: (sources or {}).get(k, "").replace("jit(train_call)/while/body/", "")
  return [{"op": k, "ms": fmt(v / 1e3 / per), "calls": fmt(calls[k] / per), "source": src(k)}
          for k, v in total.most_common(n)]
