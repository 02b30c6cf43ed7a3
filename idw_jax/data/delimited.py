"""Readers of any interaction table: delimited text (CSV, TSV) and RecBole atomic `.inter` files.

Formats (formats.FORMATS):
  delimited:  one event a row, the separator given (`delimiter`) or taken from the file name
              (.csv: ",", .tsv / .tab: tab; a .gz suffix is ignored), quoted fields as Python's
              csv module reads them ("a,b" is one field, "" inside quotes one quote, a quoted
              field may span lines). With a header (`header=True`), the user, item and time
              columns are named by the header (defaults user, item, timestamp); without one, by
              0-based index (defaults 0, 1, 2).
  recbole:    a RecBole atomic file (https://recbole.io/docs/user_guide/data/atomic_files.html):
              tab-separated, a header of `name:type` fields (`user_id:token  item_id:token
              rating:float  timestamp:float`), columns picked by name (defaults user_id,
              item_id, timestamp); no quoting.
Other columns (ratings, review text) are read past. The time column is optional: time="none"
reads none, and the file order is then each user's time order (a repeated user and item is
then a duplicate, as in readers' user_sequences).

The conventions are readers.py's (its module docstring), so the same events read from a CSV,
an .inter file and a `user item timestamp` file give the same UserSequences: ids never merged,
integers only when canonical, dense ids in one fixed order, stable time order, a leading BOM
stripped and counted, blank lines skipped and counted, duplicates dropped and counted, any other
bad row a DataError naming the file and its 1-based line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from idw_jax.data import readers
from idw_jax.data.readers import DataError, _error
from idw_jax.data.types import UserSequences

NO_TIME = "none"
# Default columns: (user, item, time) by header name, by index without a header.
DELIMITED_COLUMNS = ("user", "item", "timestamp")
RECBOLE_COLUMNS = ("user_id", "item_id", "timestamp")
INDEX_COLUMNS = ("0", "1", "2")
EXTENSION_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".inter": "\t"}
_TAB_NAMES = ("\t", "\\t", "tab")


def delimiter_for(path: str | Path, delimiter: str = "") -> str:
  """The one-character separator: `delimiter` ("tab" or "\\t" for a tab), or by the file's
  extension when "" (a one-line ValueError naming the file when it has no known extension)."""
  if delimiter in _TAB_NAMES:
    return "\t"
  if delimiter:
    if len(delimiter) != 1:
      raise ValueError(f"config.data.delimiter: must be one character or 'tab', got "
                       f"{delimiter!r}")
    return delimiter
  path = Path(path)
  suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
  if suffixes and suffixes[-1] in EXTENSION_DELIMITERS:
    return EXTENSION_DELIMITERS[suffixes[-1]]
  raise ValueError(f"{path}: cannot tell the separator from the file name (known: "
                   f"{', '.join(EXTENSION_DELIMITERS)}); set --config.data.delimiter")


def _records(path: Path, text: str, delimiter: str,
             quoting: int) -> tuple[list[list[str]], list[int], int]:
  """(rows, 1-based first line of each row, blank lines skipped) of `text` as csv reads it."""
  reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting,
                      strict=True)
  rows, line_of, blank, end = [], [], 0, 0
  with readers._no_gc():
    while True:
      try:
        row = next(reader)
      except StopIteration:
        break
      except csv.Error as err:
        raise _error(path, end + 1, f"not a valid {delimiter!r}-separated row ({err})") from None
      start, end = end + 1, reader.line_num
      # A blank line: empty, or whitespace and (whitespace) separators only.
      if not row or ((len(row) == 1 or delimiter.isspace()) and not "".join(row).strip()):
        blank += end - start + 1
        continue
      rows.append(row)
      line_of.append(start)
  return rows, line_of, blank


def _pick(path: Path, names: list[str] | None, wanted: tuple[str, str, str], width: int,
          header_line: int) -> list[int | None]:
  """Column index of user, item and time (None: no time column); names None: no header, so
  `wanted` are 0-based indices. An unknown name or index is one DataError naming the header."""
  out: list[int | None] = []
  for role, want in zip(("user", "item", "time"), wanted):
    if role == "time" and want.lower() == NO_TIME:
      out.append(None)
      continue
    if names is None:
      if not (want.isdigit() and int(want) < width):
        raise _error(path, header_line, f"no column {want!r} for the {role} (config.data."
                     f"columns.{role}): without a header it is a 0-based index below {width}")
      out.append(int(want))
    elif want in names:
      out.append(names.index(want))
    else:
      raise _error(path, header_line, f"no column {want!r} for the {role} (config.data.columns."
                   f"{role}) in the header {names}")
  if len(set(out) - {None}) < len(out) - out.count(None):
    raise _error(path, header_line, f"the user, item and time columns must differ, got {wanted}")
  return out


def _read_table(path, fmt: str, delimiter: str, quoting: int, header: bool,
                columns: tuple[str, str, str], header_names, drop_duplicates: bool,
                expected: str) -> UserSequences:
  """The shared body: rows, header, picked columns, then readers' id and time rules."""
  path = readers._existing(path)
  text, bom = readers._read_text(path, expected)
  lines = text.count("\n") + (not text.endswith("\n"))
  rows, line_of, blank = _records(path, text, delimiter, quoting)
  del text
  if not rows:
    raise _error(path, 1, f"empty file; expected {expected}")
  names = None
  header_line = line_of[0]
  if header:
    names = header_names(path, header_line, rows[0])
    rows, line_of = rows[1:], line_of[1:]
  width = len(names) if names is not None else len(rows[0]) if rows else 0
  user_c, item_c, time_c = _pick(path, names, columns, width, header_line)
  lengths = np.fromiter(map(len, rows), np.int64, len(rows))
  bad = np.flatnonzero(lengths != width)
  if bad.size:
    k = int(bad[0])
    source = "the header" if header else "the first row"
    raise _error(path, line_of[k], f"expected {width} fields as {source} has, got {lengths[k]}: "
                 f"{readers._show(delimiter.join(rows[k]))}")
  if not rows:
    raise _error(path, header_line, f"no event after the header; expected {expected}")
  line_of = np.asarray(line_of, np.int64)
  with readers._no_gc():
    users = [r[user_c] for r in rows]
    items = [r[item_c] for r in rows]
    times_col = None if time_c is None else [r[time_c] for r in rows]
    del rows
  for col, role in ((users, "user"), (items, "item")):
    empty = [k for k, s in enumerate(col) if not s]
    if empty:
      raise _error(path, int(line_of[empty[0]]), f"empty {role} id")
  times = (np.zeros(len(users), np.int64) if times_col is None
           else readers._times(path, times_col, line_of))
  counts = {"lines": lines, "blank_lines_skipped": blank, "bom_stripped": bom,
            "header_lines": int(header), "columns": _columns_said(names, user_c, item_c, time_c)}
  what = ("event (same user, item and timestamp)" if time_c is not None
          else "event (same user and item; no time column)")
  return readers._assemble_text(path, fmt, counts, readers._dense_ids(users),
                                readers._dense_ids(items), times, line_of, drop_duplicates, what)


def _columns_said(names, *picked) -> str:
  """The columns read, for the report: e.g. "user=user item=item time=timestamp" (by name) or
  "user=0 item=1 time=file order" (by index, no time column)."""
  said = ["file order" if c is None else names[c] if names else str(c) for c in picked]
  return " ".join(f"{role}={s}" for role, s in zip(("user", "item", "time"), said))


def _plain_header(path: Path, line: int, row: list[str]) -> list[str]:
  names = [s.strip() for s in row]
  if len(set(names)) < len(names):
    raise _error(path, line, f"the header names a column twice: {names}")
  return names


RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")


def _untyped(column: str) -> str:
  """`user_id:token` -> `user_id`: a column named as a RecBole header spells it."""
  name, colon, kind = column.rpartition(":")
  return name if colon and name and kind in RECBOLE_TYPES else column


def _recbole_header(path: Path, line: int, row: list[str]) -> list[str]:
  """Field names of a RecBole header (`name:type` each); anything else is a DataError."""
  names = []
  for field in row:
    name, colon, kind = field.strip().rpartition(":")
    if not colon or not name or kind not in RECBOLE_TYPES:
      raise _error(path, line, f"expected a RecBole header of name:type fields (type token, "
                   f"token_seq, float or float_seq), got {field!r} in {row}")
    names.append(name)
  return _plain_header(path, line, names)


def read_delimited(path, *, delimiter: str = "", header: bool = True, user: str = "",
                   item: str = "", time: str = "", drop_duplicates: bool = True) -> UserSequences:
  """Reads a CSV/TSV file of events (module docstring); user/item/time: column names with a
  header, 0-based indices without one ("" each: the defaults; time="none": no time column)."""
  sep = delimiter_for(path, delimiter)
  defaults = DELIMITED_COLUMNS if header else INDEX_COLUMNS
  columns = tuple(c or d for c, d in zip((user, item, time), defaults))
  expected = (f"{sep!r}-separated rows with the columns {columns}"
              + (" named in a header" if header else " (0-based)"))
  return _read_table(path, "delimited", sep, csv.QUOTE_MINIMAL, header, columns, _plain_header,
                     drop_duplicates, expected)


def read_recbole(path, *, user: str = "", item: str = "", time: str = "",
                 drop_duplicates: bool = True) -> UserSequences:
  """Reads a RecBole atomic `.inter` file (module docstring); user/item/time: field names
  ("" each: user_id, item_id, timestamp; time="none": no time column), with or without their
  type as the header spells them (`user_id:token`)."""
  columns = tuple(_untyped(c) or d for c, d in zip((user, item, time), RECBOLE_COLUMNS))
  expected = f"a RecBole .inter file: a tab-separated name:type header naming {columns}"
  return _read_table(path, "recbole", "\t", csv.QUOTE_NONE, True, columns, _recbole_header,
                     drop_duplicates, expected)


def options(data_cfg) -> dict[str, Any]:
  """The reader keyword arguments of a data config section (empty for the other formats)."""
  cols = data_cfg.columns
  names = {"user": cols.user, "item": cols.item, "time": cols.time}
  if data_cfg.source == "delimited":
    return {"delimiter": data_cfg.delimiter, "header": bool(data_cfg.header), **names}
  if data_cfg.source == "recbole":
    return names
  return {}


__all__ = ["DataError", "delimiter_for", "read_delimited", "read_recbole", "options"]
