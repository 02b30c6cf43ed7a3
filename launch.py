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

import errno
import os
from pathlib import Path

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
  from idw_jax import driver
  workdir = Path(_WORKDIR.value or
                 f"workdirs/{cfg.data.name}/{cfg.method}-{cfg.preset}-seed{cfg.seed}")
  made = [p for p in (workdir, *workdir.parents) if not p.exists()]   # deepest first
  try:   # a bad --workdir fails here, before the data is read
    workdir.mkdir(parents=True, exist_ok=True)
    if not os.access(workdir, os.W_OK):
      raise PermissionError(13, "not writable")
  except OSError as e:
    raise ValueError(f"--workdir={workdir}: cannot hold a run ({e.strerror or e})") from None
  try:
    driver.run(cfg, workdir)
  except BaseException as e:
    for folder in made:   # refused before writing anything (e.g. the data): no empty workdir
      if not folder.is_dir() or any(folder.iterdir()):
        break
      folder.rmdir()
    if cli.disk_full(e):
      full = OSError(f"--workdir={workdir}: no space left on its device; free some space and run "
                     "again (it resumes from its last complete checkpoint)")
      full.errno = errno.ENOSPC
      raise full from None
    raise
  if jax.process_index() == 0:
    print(f"results: {workdir / 'results.json'}")

if __name__ == "__main__":
  cli.run(main)
