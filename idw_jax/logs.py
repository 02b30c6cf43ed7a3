"""Library log notices we know to be harmless, silenced where they would repeat on every run."""

from __future__ import annotations

import contextlib

from absl import logging


@contextlib.contextmanager
def quiet(level: int = logging.FATAL):
  """absl log messages below `level` off inside the block (e.g. Orbax reporting an error that
  we report ourselves, TFDS announcing a custom config or a fresh build)."""
  before = logging.get_verbosity()
  logging.set_verbosity(min(level, before))   # absl: a lower verbosity shows less
  try:
    yield
  finally:
    logging.set_verbosity(before)
