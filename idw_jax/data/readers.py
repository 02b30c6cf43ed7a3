"""Readers of real interaction files: one raw file in, one `UserSequences` out.

Formats (`FORMATS`):
  movielens:            MovieLens-1M `ratings.dat`, `UserID::MovieID::Rating::Timestamp`.
  amazon:               Amazon review data (2018) JSON lines (reviewerID, asin, unixReviewTime),
                        with the authors' filters (time threshold, single-pass < 5 filter).
  user_item_timestamp:  `user item timestamp` per line (the authors' `user_item_mapped.txt`).
  user_sequences:       `user item item ...` per line, already oldest first.
(CSV/TSV and RecBole `.inter` files: delimited.py, on these conventions; every format:
formats.py.)

Every file may be gzipped (detected by its magic bytes, not its name). Conventions shared by all
readers, so that any two of them agree on the same data:
  - Ids are never merged: two ids are the same only when their text is the same (`007` and `7`
    are two users, `05` and `5` two items). In the text formats (movielens, user_item_timestamp,
    user_sequences) an id is read as an integer only when that is lossless, i.e. it is a
    canonical 64-bit integer: `str(int(s)) == s` (no leading zeros, no `+`, no `_`, no spaces).
    Each column (users, items) is decided for the whole file: when every id is canonical,
    `user_ids` / `item_ids` are int64; when any is not, all ids of that column are kept as their
    exact text (a str array), and `report["user_ids_kept_as_text"]` /
    `report["item_ids_kept_as_text"]` count the distinct non-canonical ids (0 on clean data).
    MovieLens ids must still be integers (`x1` is an error); a non-canonical one (`007`) is kept
    as text like in the other formats. Amazon ids are JSON strings and always stay strings.
  - Dense ids follow one fixed order that never depends on which other ids are in the file:
    canonical integer ids first, ascending numerically, then every other id in string
    (Unicode code point) order. Items get dense ids 1..num_items in that order (`item_ids[k]` is
    the original id of dense id k); users are ordered the same way (`user_ids` keeps their ids).
    So one non-numeric id never reorders the numeric ones. Amazon ids: string order.
  - Each user's items are oldest first; ties in time keep file order (stable).
  - A UTF-8 byte order mark (U+FEFF) at the very start of a file (after gunzipping) is stripped
    and counted (`report["bom_stripped"]`, 0 or 1); one anywhere else in a text-format file, or
    at the start of a later Amazon line (e.g. files concatenated), is a `DataError`.
  - Blank lines (empty or whitespace only, a trailing one included) are skipped and counted
    (`report["blank_lines_skipped"]`); `report["lines"]` counts every line, blank ones included,
    and error messages give line numbers in the file as it is.
  - Other bad input raises `DataError` naming the file, the 1-based line and what was expected.
    The only tolerated defect in the data itself is a duplicate event (same user, item and
    timestamp; same user and item in `user_sequences`, which has no time): the later one is
    dropped and counted in `report` (`drop_duplicates=False` makes it an error instead). Nothing is
    dropped, merged or reordered silently.
"""

from __future__ import annotations

import array
import contextlib
import gc
import gzip
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from idw_jax.data.types import UserSequences

FORMATS = ("movielens", "amazon", "user_item_timestamp", "user_sequences")

# The authors' Amazon preprocessing (multiple_user_representations/colabs/
# Preprocessing_AmazonDataset.ipynb): reviews before 2002-07-17 are ignored, then any review whose
# user or item has fewer than 5 reviews is dropped, in one pass.
AMAZON_MIN_TIME = 1026900400
AMAZON_MIN_COUNT = 5

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"
_BOM_UTF8 = _BOM.encode("utf-8")
_INT64 = np.iinfo(np.int64)
_CHUNK = 1 << 20
_SNIPPET = 80
_PathLike = str | os.PathLike


class DataError(ValueError):
  """A file that does not read as its format; the message names file, line and what was expected."""


def _error(path: Path, line: int, msg: str) -> DataError:
  return DataError(f"{path}, line {line}: {msg}")


def _show(text: str) -> str:
  """The start of an offending line, for error messages."""
  return repr(text if len(text) <= _SNIPPET else text[:_SNIPPET] + "...")


@contextlib.contextmanager
def _no_gc():
  """Pauses the cyclic GC while millions of small lists are built (it would rescan them all)."""
  enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    if enabled:
      gc.enable()


# ---------------------------------------------------------------------------------------------
# Bytes and lines.


def _existing(path: _PathLike) -> Path:
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"data file not found: {path}")
  return path


@contextlib.contextmanager
def _open_binary(path: Path):
  """Opens `path` for binary reading, through gzip when it starts with the gzip magic."""
  with open(path, "rb") as raw:
    is_gzip = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    if not is_gzip:
      yield raw
      return
    with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
      yield gz


def _gzip_error(path: Path, complete_lines: int, err: Exception) -> DataError:
  return _error(path, complete_lines + 1,
                f"gzip stream is truncated or corrupt ({err}); only {complete_lines} complete "
                "lines could be read. Fetch the file again.")


def _blocks(path: Path) -> Iterator[bytes]:
  """The file's bytes in blocks (gunzipped); a truncated or corrupt gzip stream is a DataError.

  read1 returns what one step decompressed, so everything before a truncation point is yielded
  and the error names the line the stream ends in.
  """
  newlines = 0
  with _open_binary(path) as f:
    while True:
      try:
        block = f.read1(_CHUNK)
      except (EOFError, OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError.
        raise _gzip_error(path, newlines, err) from None
      if not block:
        return
      newlines += block.count(b"\n")
      yield block


def _read_text(path: Path, expected: str) -> tuple[str, int]:
  """(whole file as text, gunzipped, without a leading BOM; 1 if a BOM was stripped else 0).

  Bad gzip, bad UTF-8, an empty file and a BOM anywhere but at the start are DataErrors.
  """
  blocks = list(_blocks(path))
  data = b"".join(blocks)
  del blocks
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as err:
    line = data.count(b"\n", 0, err.start) + 1
    raise _error(path, line, f"not valid UTF-8 text ({err.reason}); expected {expected}") from None
  bom = int(text.startswith(_BOM))
  if bom:
    text = text[1:]
  inner = text.find(_BOM)
  if inner >= 0:
    raise _error(path, text.count("\n", 0, inner) + 1,
                 "byte order mark (U+FEFF) inside the file (files concatenated?); only one at the "
                 f"very start is allowed. Expected {expected}")
  if not text.strip():
    raise _error(path, 1, f"empty file; expected {expected}")
  if "\r" in text:
    text = text.replace("\r\n", "\n")
  return text, bom


def _text_lines(text: str) -> list[str]:
  """Splits on '\\n' only (str.splitlines would also split on unicode separators)."""
  lines = text.split("\n")
  if lines[-1] == "":
    lines.pop()
  return lines


def _read_rows(path: Path, sep: str | None, n: int | None,
               expected: str) -> tuple[list[list[str]], np.ndarray, dict[str, Any]]:
  """The file's non-blank lines split on sep (None: any whitespace).

  Returns (rows, 1-based line of each row, report counts: lines, blank_lines_skipped,
  bom_stripped). A row with other than n fields (n None: fewer than 2) is a DataError.
  """
  text, bom = _read_text(path, expected)
  with _no_gc():
    lines = _text_lines(text)
    del text
    rows = [line.split(sep) for line in lines]
  lengths = np.fromiter(map(len, rows), np.int64, len(rows))
  # A blank line splits into no field on whitespace, or into one blank field on a separator.
  if sep is None:
    blank = lengths == 0
  else:
    blank = np.zeros(len(rows), bool)
    ones = np.flatnonzero(lengths == 1)
    blank[ones] = [not lines[i].strip() for i in ones.tolist()]
  line_of = np.flatnonzero(~blank) + 1
  counts = {"lines": len(lines), "blank_lines_skipped": int(blank.sum()), "bom_stripped": bom}
  if counts["blank_lines_skipped"]:
    with _no_gc():
      rows = [rows[i] for i in (line_of - 1).tolist()]
    lengths = lengths[~blank]
  bad = np.flatnonzero(lengths != n if n is not None else lengths < 2)
  if bad.size:
    line = int(line_of[bad[0]])
    fields = f"{lengths[bad[0]]} field(s): " if n is not None else ""
    raise _error(path, line, f"expected {expected}, got {fields}{_show(lines[line - 1])}")
  return rows, line_of, counts


def _iter_binary_lines(path: Path) -> Iterator[tuple[int, bytes]]:
  """Streams (1-based line number, raw line) without holding the file in memory."""
  n, tail = 0, b""
  for block in _blocks(path):
    lines = (tail + block).split(b"\n")
    tail = lines.pop()
    for line in lines:
      n += 1
      yield n, line
  if tail:
    yield n + 1, tail


# ---------------------------------------------------------------------------------------------
# Columns of strings to numbers and dense ids.


def _first_bad(path: Path, col: list[str], line_of: np.ndarray, convert, what: str) -> DataError:
  """Finds the first value `convert` rejects (the slow path, only taken on bad input)."""
  for i, s in enumerate(col):
    try:
      convert(s)
    except (ValueError, OverflowError):
      return _error(path, int(line_of[i]), f"expected {what}, got {s!r}")
  return _error(path, int(line_of[0]), f"expected {what}")  # Unreachable in practice.


def _ints(path: Path, col: list[str], line_of: np.ndarray, what: str) -> np.ndarray:
  try:
    return np.fromiter(map(int, col), np.int64, len(col))
  except (ValueError, OverflowError):
    raise _first_bad(path, col, line_of, lambda s: np.int64(int(s)),
                     f"an integer {what} (64-bit)") from None


def _times(path: Path, col: list[str], line_of: np.ndarray) -> np.ndarray:
  """Integer timestamps, or float ones when some are not integers; anything else is a DataError."""
  try:
    return np.fromiter(map(int, col), np.int64, len(col))
  except (ValueError, OverflowError):
    pass
  try:
    t = np.fromiter(map(float, col), np.float64, len(col))
  except ValueError:
    raise _first_bad(path, col, line_of, float, "a numeric timestamp") from None
  if not np.all(np.isfinite(t)):
    i = int(np.flatnonzero(~np.isfinite(t))[0])
    raise _error(path, int(line_of[i]), f"expected a finite timestamp, got {col[i]!r}")
  return t


def _is_canonical_int(s: str) -> bool:
  """Whether s reads as a 64-bit integer losslessly: `str(int(s)) == s`."""
  try:
    v = int(s)
  except ValueError:  # Also raised for strings over Python's int digit limit.
    return False
  return str(v) == s and _INT64.min <= v <= _INT64.max


def _dense_ids(col: list[str],
               values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
  """(0-based dense code per id, ids in dense order, number of distinct ids kept as text).

  Ids are int64 when every one is a canonical integer (see the module docstring); else all are
  kept as their text, ordered canonical integers first (numerically), then the rest (string
  order). `values`: int64 of col when already parsed, to skip parsing again.
  """
  distinct = set(col)
  text = [s for s in distinct if not _is_canonical_int(s)]
  if not text:
    if values is None:
      values = np.fromiter(map(int, col), np.int64, len(col))
    return (*_dense(values), 0)
  text_set = set(text)
  order = sorted((s for s in distinct if s not in text_set), key=int) + sorted(text)
  index = {s: k for k, s in enumerate(order)}
  codes = np.fromiter(map(index.__getitem__, col), np.int64, len(col))
  return codes, np.asarray(order, dtype=str), len(text)


def _dense(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(0-based dense code per value in ascending id order, sorted distinct ids)."""
  uniq, codes = np.unique(values, return_inverse=True)
  return codes.reshape(-1).astype(np.int64), uniq


def _dense_codes(codes: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
  """`_dense` of names[codes] (kept as strings), sorting only the distinct names in use."""
  present, inverse = np.unique(codes, return_inverse=True)
  rank, ids = _dense(np.asarray([names[c] for c in present.tolist()], dtype=str))
  return rank[inverse.reshape(-1)], ids


# ---------------------------------------------------------------------------------------------
# Events to UserSequences.


def _duplicates(path: Path, users: np.ndarray, items: np.ndarray, times: np.ndarray,
                line_of: np.ndarray, drop: bool, what: str) -> np.ndarray:
  """Mask of later duplicates of (user, item, time) events; an error when drop is False."""
  n = users.size
  order = np.lexsort((np.arange(n), times, items, users))
  u, i, t = users[order], items[order], times[order]
  same = (u[1:] == u[:-1]) & (i[1:] == i[:-1]) & (t[1:] == t[:-1])
  dup = np.zeros(n, bool)
  dup[order[1:][same]] = True
  if dup.any() and not drop:
    later = int(np.flatnonzero(dup)[0])  # Events are in file order: the earliest duplicate line.
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    starts = np.flatnonzero(np.concatenate([[True], ~same]))
    start = starts[np.searchsorted(starts, rank[later], side="right") - 1]
    first = int(line_of[order[start]])
    raise _error(path, int(line_of[later]), f"duplicate {what} (first seen on line {first})")
  return dup


def _assemble(path: Path, users: tuple[np.ndarray, np.ndarray],
              items: tuple[np.ndarray, np.ndarray], times: np.ndarray, line_of: np.ndarray,
              report: dict[str, Any], drop_duplicates: bool, duplicate_what: str) -> UserSequences:
  """Builds `UserSequences` from parallel event arrays in file order.

  Args:
    users, items: (dense code [E], sorted original ids) as made by `_dense`.
    times: [E] sort key (zeros when the file order is the time order).
    line_of: [E] 1-based line of each event, for messages.
  """
  (user_codes, user_ids), (item_codes, item_ids) = users, items
  dup = _duplicates(path, user_codes, item_codes, times, line_of, drop_duplicates, duplicate_what)
  keep = ~dup
  report["duplicate_events_dropped"] = int(dup.sum())
  user_codes, item_codes, times = user_codes[keep], item_codes[keep], times[keep]
  # Stable in file order: the event index is the last key.
  order = np.lexsort((np.arange(user_codes.size), times, user_codes))
  counts = np.bincount(user_codes, minlength=user_ids.size)
  offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
  report.update(users=int(user_ids.size), items=int(item_ids.size),
                interactions=int(user_codes.size))
  return UserSequences(
      items=(item_codes[order] + 1).astype(np.int32), offsets=offsets,
      num_items=int(item_ids.size), user_ids=user_ids,
      item_ids=np.concatenate([np.zeros(1, item_ids.dtype), item_ids]), report=report)


# ---------------------------------------------------------------------------------------------
# Formats.


def read_movielens(path: _PathLike, *, drop_duplicates: bool = True) -> UserSequences:
  """Reads MovieLens `ratings.dat` (`UserID::MovieID::Rating::Timestamp`, gz or plain).

  Every rating is kept (the paper counts 6,040 users / 3,706 items / 1,000,209 events on ML-1M);
  each user's movies are sorted by timestamp, ties in file order. Ids must be integers; one
  written non-canonically (`007`) is kept as text (module docstring).
  """
  path = _existing(path)
  expected = "4 '::'-separated fields UserID::MovieID::Rating::Timestamp"
  rows, line_of, counts = _read_rows(path, "::", 4, expected)
  with _no_gc():
    cols = list(zip(*rows))
    del rows
  users = _ints(path, cols[0], line_of, "UserID")
  items = _ints(path, cols[1], line_of, "MovieID")
  try:
    np.fromiter(map(float, cols[2]), np.float64, len(cols[2]))
  except ValueError:
    raise _first_bad(path, cols[2], line_of, float, "a numeric Rating") from None
  times = _ints(path, cols[3], line_of, "Timestamp (integer seconds)")
  return _assemble_text(path, "movielens", counts, _dense_ids(cols[0], users),
                        _dense_ids(cols[1], items), times, line_of, drop_duplicates,
                        "rating (same UserID, MovieID and Timestamp)")


def read_user_item_timestamp(path: _PathLike, *, drop_duplicates: bool = True) -> UserSequences:
  """Reads `user item timestamp` lines (whitespace separated); sorts each user by time, stably.

  Ids may be any tokens (module docstring: integers when lossless, else text); timestamps must
  be numbers.
  """
  path = _existing(path)
  expected = "3 whitespace-separated fields: user item timestamp"
  rows, line_of, counts = _read_rows(path, None, 3, expected)
  with _no_gc():
    cols = list(zip(*rows))
    del rows
  times = _times(path, cols[2], line_of)
  return _assemble_text(path, "user_item_timestamp", counts, _dense_ids(cols[0]),
                        _dense_ids(cols[1]), times, line_of, drop_duplicates,
                        "event (same user, item and timestamp)")


def read_user_sequences(path: _PathLike, *, drop_duplicates: bool = True) -> UserSequences:
  """Reads `user item item ...` lines, items already oldest first; one line per user.

  A user on two lines is an error (the order across lines would be unknown). With no timestamps,
  a repeated item in a line counts as a duplicate event.
  """
  path = _existing(path)
  expected = "a user id followed by at least one item id, separated by whitespace"
  rows, row_line, counts = _read_rows(path, None, None, expected)
  with _no_gc():
    user_col = [row[0] for row in rows]
    item_col = [item for row in rows for item in row[1:]]
    lengths = np.fromiter(map(len, rows), np.int64, len(rows)) - 1
    del rows
  user_codes, user_ids, user_text = _dense_ids(user_col)
  _check_unique_users(path, user_col, user_codes, row_line)
  line_of = np.repeat(row_line, lengths)
  return _assemble_text(path, "user_sequences", counts,
                        (np.repeat(user_codes, lengths), user_ids, user_text),
                        _dense_ids(item_col), np.zeros(line_of.size, np.int64), line_of,
                        drop_duplicates, "item in the same user's line")


def _assemble_text(path: Path, fmt: str, counts: dict[str, Any],
                   users: tuple[np.ndarray, np.ndarray, int],
                   items: tuple[np.ndarray, np.ndarray, int], times: np.ndarray,
                   line_of: np.ndarray, drop_duplicates: bool,
                   duplicate_what: str) -> UserSequences:
  """`_assemble` for the text formats: users and items as made by `_dense_ids`."""
  report = {"format": fmt, "file": path.name, **counts, "user_ids_kept_as_text": users[2],
            "item_ids_kept_as_text": items[2]}
  return _assemble(path, users[:2], items[:2], times, line_of, report, drop_duplicates,
                   duplicate_what)


def _check_unique_users(path: Path, user_col: list[str], codes: np.ndarray,
                        line_of: np.ndarray) -> None:
  """A DataError when a user has two lines (codes: dense user per line)."""
  order = np.argsort(codes, kind="stable")
  same = codes[order][1:] == codes[order][:-1]
  if same.any():
    # Among repeated users, report the earliest second occurrence.
    later = order[1:][same]
    k = int(np.argmin(later))
    second, first = int(later[k]), int(order[:-1][same][k])
    raise _error(path, int(line_of[second]), f"user {user_col[second]!r} already has a line "
                 f"(line {int(line_of[first])}); expected one line per user")


def read_amazon(path: _PathLike, *, min_time: int = AMAZON_MIN_TIME,
                min_count: int = AMAZON_MIN_COUNT, drop_duplicates: bool = True) -> UserSequences:
  """Reads Amazon review data (2018) JSON lines with the authors' preprocessing.

  Keeps reviews with unixReviewTime >= min_time; then, with counts taken after that filter and
  before this one, drops every review whose user or item has fewer than min_count reviews, in a
  single pass (not iterated to a k-core, so some kept users or items can end below min_count:
  counted in `report`). Duplicate reviews (same reviewer, asin and time) are dropped after the
  filters, so the filters see the same counts as the authors' code, which kept them. Ids stay
  strings (string order), even when all-digit: ASINs such as ISBNs keep their leading zeros.
  """
  path = _existing(path)
  user_index: dict[str, int] = {}
  item_index: dict[str, int] = {}
  user_codes, item_codes, times = array.array("q"), array.array("q"), array.array("q")
  lines, bom, blank = 0, 0, []
  with _no_gc():
    for lines, raw in _iter_binary_lines(path):
      if raw.startswith(_BOM_UTF8):
        if lines > 1:
          raise _error(path, lines, "byte order mark (U+FEFF) at the start of a line (files "
                       "concatenated?); only one at the very start of the file is allowed")
        raw, bom = raw[len(_BOM_UTF8):], 1
      if not raw or raw.isspace():
        blank.append(lines)
        continue
      user, item, t = _review_fields(path, lines, raw)
      user_codes.append(user_index.setdefault(user, len(user_index)))
      item_codes.append(item_index.setdefault(item, len(item_index)))
      times.append(t)
  if not user_codes:
    raise _error(path, 1, "empty file; expected one JSON review per line")
  user_codes = np.frombuffer(user_codes, np.int64)
  item_codes = np.frombuffer(item_codes, np.int64)
  times = np.frombuffer(times, np.int64)
  line_of = np.delete(np.arange(1, lines + 1), np.asarray(blank, np.int64) - 1)

  k = min_count
  recent = times >= min_time
  user_n = np.bincount(user_codes[recent], minlength=len(user_index))
  item_n = np.bincount(item_codes[recent], minlength=len(item_index))
  user_low = recent & (user_n[user_codes] < k)
  item_low = recent & (item_n[item_codes] < k)
  keep = recent & ~user_low & ~item_low
  report = {
      "format": "amazon", "file": path.name, "lines": int(lines),
      "blank_lines_skipped": len(blank), "bom_stripped": bom,
      "min_time": int(min_time), "min_count": int(k),
      "reviews_before_min_time": int((~recent).sum()),
      "users_after_min_time": int((user_n > 0).sum()),
      "items_after_min_time": int((item_n > 0).sum()),
      f"reviews_dropped_user_lt{k}": int(user_low.sum()),
      f"reviews_dropped_item_lt{k}": int(item_low.sum()),
      f"reviews_dropped_lt{k}": int((user_low | item_low).sum()),
      f"users_dropped_lt{k}": int(((user_n > 0) & (user_n < k)).sum()),
      f"items_dropped_lt{k}": int(((item_n > 0) & (item_n < k)).sum()),
  }
  if not keep.any():
    raise DataError(f"{path}: no review is left after the filters (unixReviewTime >= {min_time}, "
                    f"users and items with >= {k} reviews); counts: {report}")
  user_names, item_names = list(user_index), list(item_index)
  del user_index, item_index
  seqs = _assemble(path, _dense_codes(user_codes[keep], user_names),
                   _dense_codes(item_codes[keep], item_names), times[keep], line_of[keep], report,
                   drop_duplicates, "review (same reviewerID, asin and unixReviewTime)")
  item_n_kept = np.bincount(seqs.items, minlength=seqs.num_items + 1)[1:]
  report[f"users_kept_with_lt{k}"] = int((seqs.lengths < k).sum())
  report[f"items_kept_with_lt{k}"] = int((item_n_kept < k).sum())
  return seqs


def _review_fields(path: Path, line: int, raw: bytes) -> tuple[str, str, int]:
  """(reviewerID, asin, unixReviewTime) of one JSON line; anything else is a DataError."""
  try:
    obj = json.loads(raw)
  except ValueError as err:  # JSONDecodeError and UnicodeDecodeError.
    raise _error(path, line, f"invalid JSON ({err}); expected one review object per line: "
                 f"{_show(raw.decode('utf-8', 'replace').rstrip())}") from None
  if not isinstance(obj, dict):
    raise _error(path, line, f"expected a JSON object, got {type(obj).__name__}")
  try:
    user, item, t = obj["reviewerID"], obj["asin"], obj["unixReviewTime"]
  except KeyError as err:
    raise _error(path, line, f"missing field {err.args[0]!r}; expected reviewerID, asin and "
                 "unixReviewTime") from None
  if not isinstance(user, str) or not isinstance(item, str) or not user or not item:
    raise _error(path, line, f"expected non-empty string reviewerID and asin, got {user!r}, "
                 f"{item!r}")
  if isinstance(t, bool) or not isinstance(t, int):
    raise _error(path, line, f"expected an integer unixReviewTime, got {t!r}")
  return user, item, t


_READERS = {
    "movielens": read_movielens,
    "amazon": read_amazon,
    "user_item_timestamp": read_user_item_timestamp,
    "user_sequences": read_user_sequences,
}


def read(format: str, path: _PathLike,  # pylint: disable=redefined-builtin
         **kwargs) -> UserSequences:
  """Reads `path` with the reader of `format` (one of FORMATS); kwargs go to that reader."""
  if format not in _READERS:
    raise ValueError(f"unknown data format {format!r}; expected one of {FORMATS}")
  return _READERS[format](path, **kwargs)
