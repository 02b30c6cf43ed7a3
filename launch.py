"""Train and evaluate one method on one dataset; resumes when --workdir holds checkpoints.

  python launch.py                                        # MUR-IDW on the synthetic benchmark
  python launch.py --config=configs/synthetic.py:sur      # another method
  python launch.py --config=configs/ml1m.py:mur_idw --config.seed=1 --workdir=/tmp/ml1m
"""

from pathlib import Path

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", "configs/synthetic.py", "Config file[:method[,preset]].", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output folder (checkpoints, results.json, tensorboard/). Default: "
    "workdirs/<data.name>/<method>-<preset>-seed<seed>.")


def main(argv):
  del argv
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)   # Orbax logs every save at INFO
  from idw_jax import config as config_lib
  cfg = config_lib.finalize(_CONFIG.value)
  import jax
  from idw_jax.experiments import grid
  grid.enable_compilation_cache(grid.DEFAULT_CACHE)   # $IDW_JAX_CACHE, "" disables
  if cfg.distributed.initialize:
    d = cfg.distributed
    jax.distributed.initialize(
        coordinator_address=d.coordinator_address or None,
        num_processes=d.num_processes or None,
        process_id=None if d.process_id < 0 else d.process_id)
  from idw_jax import driver, sharding
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
    print(driver.results_table(results))
    print(f"results: {workdir / 'results.json'}")


if __name__ == "__main__":
  app.run(main)
