"""JAX's persistent compilation cache: compiled programs are reused across processes, which
removes most of a run's start-up cost in a grid or a test session."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT = os.environ.get(
    "IDW_JAX_CACHE", str(Path("~/.cache/idw_jax/jax_compilation_cache").expanduser()))


def enable(path: str = DEFAULT):
  """Turns the cache on in this process at `path` ("" = off), unless one is configured already."""
  if not path:
    return
  import jax
  if jax.config.jax_compilation_cache_dir:
    return
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
