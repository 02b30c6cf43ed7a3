"""Train and evaluate one method on one dataset; resumes when --workdir holds checkpoints.

  python launch.py                                        # MUR-IDW on the synthetic benchmark
  python launch.py --config=configs/synthetic.py:sur      # another method
  python launch.py --config=configs/ml1m.py:mur_idw --config.seed=1 --workdir=/tmp/ml1m
"""

import sys
import traceback
from pathlib import Path

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags


def _define_config_flag():
  """--config; ml_collections applies --config.a.b overrides while defining it, so a mistyped
  field fails here: reported in one line (the traceback with --debug)."""
  try:
    return config_flags.DEFINE_config_file(
        "config", "configs/synthetic.py", "Config file[:method[,preset]].", lock_config=True)
  except Exception as e:  # pylint: disable=broad-except
    if "--debug" in sys.argv:
      raise
    print(f"launch.py: {one_line(e)} (--debug shows the traceback)", file=sys.stderr)
    sys.exit(2)


_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output folder (checkpoints, results.json, tensorboard/). Default: "
    "workdirs/<data.name>/<method>-<preset>-seed<seed>.")
_DEBUG = flags.DEFINE_bool(
    "debug", False, "Show the full traceback of a user error (bad config field, path or data) "
    "instead of one line.")

# Errors that come from what the user asked for (a config value, a path, the data, a workdir
# in use or holding another run, a diverged run): one line, not a traceback.
USER_ERRORS = (ValueError, KeyError, OSError, FloatingPointError, RuntimeError)


def one_line(e: BaseException) -> str:
  """An exception's message on one line (ml_collections quotes and splits its own)."""
  text = str(e.args[0]) if len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
  text = text.replace("\\n", " ").replace("\n", " ").replace("\\'", "'")
  text = text.strip()
  if len(text) > 1 and text[0] == text[-1] == "'":   # a KeyError's repr
    text = text[1:-1]
  return " ".join(text.split())


_CONFIG = _define_config_flag()


def _parse_flags(argv):
  """absl flag parsing with a mistyped flag or config field reported in one line."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    if "--debug" in argv:
      raise
    print(f"launch.py: {one_line(e)} (--debug shows the traceback)", file=sys.stderr)
    sys.exit(2)


def main(argv):
  try:
    return _main(argv)
  except USER_ERRORS as e:
    if _DEBUG.value:
      raise
    print(f"launch.py: error: {one_line(e)}", file=sys.stderr)
    print(f"launch.py: (--debug shows the traceback)", file=sys.stderr)
    logging.info("traceback:\n%s", traceback.format_exc())
    sys.exit(1)


def _main(argv):
  del argv
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)   # Orbax logs every save at INFO
  from idw_jax import config as config_lib
  cfg = config_lib.finalize(_CONFIG.value)
  import jax
  from idw_jax import compilation_cache
  compilation_cache.enable()   # $IDW_JAX_CACHE, "" disables
  if cfg.distributed.initialize:
    d = cfg.distributed
    jax.distributed.initialize(
        coordinator_address=d.coordinator_address or None,
        num_processes=d.num_processes or None,
        process_id=None if d.process_id < 0 else d.process_id)
  from idw_jax import driver, reporting, sharding
  from idw_jax.data import pipeline, summary
  workdir = Path(_WORKDIR.value or
                 f"workdirs/{cfg.data.name}/{cfg.method}-{cfg.preset}-seed{cfg.seed}")
  tfds_dir = cfg.data.tfds_dir or str(workdir.parent / "tfds")
  seqs = pipeline.load_sequences(cfg.data, tfds_dir)
  splits = pipeline.make_splits(cfg.data, seqs)
  info = summary.summarize(seqs, cfg.data.name, windows=splits.num_windows)
  info["report"].update({f"protocol.{k}": v for k, v in splits.report.items()})
  if jax.process_index() == 0:
    print(summary.format_summary(info), flush=True)
  runner = driver.Driver(cfg, splits, workdir, mesh=sharding.data_mesh(), data_summary=info)
  results = runner.run()
  if jax.process_index() == 0:
    print(reporting.results_table(results))
    print(f"results: {workdir / 'results.json'}")


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
