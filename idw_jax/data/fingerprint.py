"""A run's data identity: a hash of the raw interaction file, stored with every run
(results.json "data_fingerprint", the checkpoint's run state, every record) and checked where a
run's numbers are reused: a file renamed into place, edited or re-exported under the same name
changes it, where the counts alone may not.

Synthetic data has none (None): its generator's config fields, compared with the rest of the
config, fix it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from idw_jax.data import pipeline

PREFIX = "sha256:"


@functools.lru_cache(maxsize=16)
def _file_hash(path: str, size: int, mtime_ns: int) -> str:
  """sha256 of a file's bytes (cached per path, size and modification time)."""
  del size, mtime_ns   # the cache key only
  h = hashlib.sha256()
  with open(path, "rb") as fh:
    for block in iter(lambda: fh.read(1 << 20), b""):
      h.update(block)
  return PREFIX + h.hexdigest()


def of_file(path: str | os.PathLike) -> str:
  """The fingerprint of one file (a user error naming it when it cannot be read)."""
  p = Path(path)
  try:
    st = p.stat()
    return _file_hash(str(p.resolve()), st.st_size, st.st_mtime_ns)
  except OSError as e:
    raise ValueError(f"{p}: cannot read the data file to fingerprint it ({e.strerror or e})") \
        from None


def of_data(data_cfg) -> str | None:
  """The fingerprint of a data config's raw file; None for synthetic data."""
  if data_cfg.source == "synthetic":
    return None
  return of_file(pipeline.resolve_path(data_cfg))


def mismatch(what: str, stored: str | None, now: str | None) -> str | None:
  """One line when a stored fingerprint differs from the data's now; None when they agree or
  the stored one predates fingerprints (None: checked on config and counts alone)."""
  if stored is None or now is None or stored == now:
    return None
  return (f"{what} was made from other data: its data fingerprint is {stored[:19]}..., the "
          f"data file now gives {now[:19]}... (the file changed since; rerun on it, or point "
          "--config.data.path / --data_root at the file it was made from)")
