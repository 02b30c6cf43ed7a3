"""Train and evaluate one method on one dataset; resumes when --workdir holds checkpoints.

  python launch.py                                        # MUR-IDW on the synthetic benchmark
  python launch.py --config=configs/synthetic.py:sur      # another method
  python launch.py --config=configs/ml1m.py:mur_idw --config.seed=1 --workdir=/tmp/ml1m

Flags:
  --config     a config file[:method[,preset][,tiny]] (default configs/synthetic.py);
               --config.a.b=v sets any field of it (type-checked: a mistyped field is an error)
  --workdir    the run folder (default workdirs/<data.name>/<method>-<preset>-seed<seed>)
  --debug      the full traceback of a user error instead of one line
  --help       these lines and the flags' help
"""

from absl import flags
from absl import logging

from idw_jax import cli

_CONFIG = cli.define_config_flag("configs/synthetic.py", "Config file[:method[,preset][,tiny]].")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output folder (checkpoints, results.json, tensorboard/). Default: "
    "workdirs/<data.name>/<method>-<preset>-seed<seed>.")
_DEBUG = cli.define_debug_flag()


def main(argv):
  del argv
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)   # Orbax logs every save at INFO
  from idw_jax import api
  api.train_run(_CONFIG.value, _WORKDIR.value, flag="--workdir")


if __name__ == "__main__":
  cli.run(main)
