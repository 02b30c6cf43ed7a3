"""Every raw file format a run reads, and one `read` for all of them: the built-in ones
(idw_jax/data/readers.py) and the tables whose columns the config names (delimited.py)."""

from __future__ import annotations

from idw_jax.data import delimited, readers
from idw_jax.data.types import UserSequences

FORMATS = readers.FORMATS + ("delimited", "recbole")


def read(format: str, path, **kwargs) -> UserSequences:  # pylint: disable=redefined-builtin
  """Reads `path` with the reader of `format` (one of FORMATS); kwargs go to that reader."""
  if format == "delimited":
    return delimited.read_delimited(path, **kwargs)
  if format == "recbole":
    return delimited.read_recbole(path, **kwargs)
  if format not in readers.FORMATS:
    raise ValueError(f"unknown data format {format!r}; expected one of {FORMATS}")
  return readers.read(format, path, **kwargs)
