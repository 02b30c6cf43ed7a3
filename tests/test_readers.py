"""Readers of real data formats: small raw fixtures with hand-computed results, and bad input."""

import gzip
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from idw_jax.data import formats, readers, summary
from idw_jax.data.readers import DataError

FIXTURES = Path(__file__).resolve().parent / "data" / "readers"
T0 = readers.AMAZON_MIN_TIME


def _check(seqs, users, item_ids, sequences):
  """seqs holds `sequences` (dense ids) for `users`, and item_ids[1:] == item_ids."""
  assert list(seqs.user_ids) == users
  assert list(seqs.item_ids[1:]) == item_ids
  assert seqs.num_items == len(item_ids)
  assert [seqs.sequence(u).tolist() for u in range(seqs.num_users)] == sequences
  assert seqs.items.dtype == np.int32 and seqs.offsets.dtype == np.int64


def _write(tmp_path: Path, name: str, text: str) -> Path:
  path = tmp_path / name
  path.write_text(text, encoding="utf-8")
  return path


def _gzip_bytes(data: bytes) -> bytes:
  return gzip.compress(data, mtime=0)


def _line_error(path: Path, line: int) -> str:
  """Pattern of an error that names the file and the line."""
  return re.escape(f"{path}, line {line}:")


# ---------------------------------------------------------------------------------------------
# Each format on its fixture, plain and gzipped.

@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_movielens(suffix):
  seqs = readers.read_movielens(FIXTURES / f"ratings.dat{suffix}")
  # Users and items in numeric (not string) order; user 2's tie at 978298709 keeps file order.
  _check(seqs, [2, 10, 33], [661, 914, 1193, 1357, 3068, 3408],
         [[4, 3, 5], [6, 3, 2, 1], [5, 1]])
  assert seqs.report["lines"] == 9 and seqs.report["duplicate_events_dropped"] == 0


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_user_item_timestamp(suffix):
  seqs = readers.read_user_item_timestamp(FIXTURES / f"user_item_timestamp.txt{suffix}")
  # User 10 has item 3 twice at different times: both kept (a repeat, not a duplicate).
  _check(seqs, [9, 10], [3, 20, 100], [[3, 1, 2], [1, 2, 1]])
  assert seqs.report["duplicate_events_dropped"] == 0


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_user_sequences(suffix):
  seqs = readers.read_user_sequences(FIXTURES / f"user_sequences.txt{suffix}")
  # Non-numeric ids: string order for users (u10 < u9 < user_3) and items.
  _check(seqs, ["u10", "u9", "user_3"], ["a", "b", "c"], [[3, 2], [2, 1, 3], [1]])


AMAZON_REPORT = {
    "format": "amazon", "lines": 30, "blank_lines_skipped": 0, "bom_stripped": 0,
    "min_time": T0, "min_count": 5,
    "reviews_before_min_time": 3, "users_after_min_time": 6, "items_after_min_time": 6,
    "reviews_dropped_user_lt5": 5, "reviews_dropped_item_lt5": 7, "reviews_dropped_lt5": 12,
    "users_dropped_lt5": 2, "items_dropped_lt5": 2, "duplicate_events_dropped": 1,
    "users": 4, "items": 4, "interactions": 14, "users_kept_with_lt5": 4,
    "items_kept_with_lt5": 4,
}


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_amazon_filters_by_hand(suffix):
  """Hand-computed on the fixture (lines numbered from 1; times relative to min_time).

  After the time filter (drops AU3/Y at -1, AU5/P at -100, AU5/Q at -50): users AU1 7 reviews
  (one an exact duplicate), AU2..AU4 5 each, AD 2, AU5 3 -> AD and AU5 dropped (5 reviews). Items
  P 5 (counting the duplicate and AD's review), Q 4, R 5, S 5, Y 3, Z 5 -> Q and Y dropped
  (7 reviews). Single pass: P, R, S, Z stay although their kept counts fall below 5, and so do the
  users. The duplicate AU1/P/+10 goes last. AU1: R(+5), S(+10, line 1), P(+10, line 4), Z(+40).
  """
  seqs = readers.read_amazon(FIXTURES / f"amazon_reviews.json{suffix}")
  _check(seqs, ["AU1", "AU2", "AU3", "AU4"],
         ["0000031852", "B00000000R", "B00000000S", "B00000000Z"],  # ASINs stay strings.
         [[2, 3, 1, 4], [1, 2, 3], [1, 2, 3, 4], [2, 3, 4]])
  assert {k: v for k, v in seqs.report.items() if k != "file"} == AMAZON_REPORT


def test_amazon_thresholds_are_arguments():
  seqs = readers.read_amazon(FIXTURES / "amazon_reviews.json", min_time=0, min_count=1)
  assert seqs.report["reviews_before_min_time"] == 0
  assert seqs.report["reviews_dropped_lt1"] == 0
  assert seqs.num_interactions == 29  # 30 lines, one duplicate.


def test_gzip_and_plain_agree_and_dispatch():
  for fmt, name in [("movielens", "ratings.dat"), ("amazon", "amazon_reviews.json"),
                    ("user_item_timestamp", "user_item_timestamp.txt"),
                    ("user_sequences", "user_sequences.txt")]:
    a, b = readers.read(fmt, FIXTURES / name), readers.read(fmt, FIXTURES / f"{name}.gz")
    assert np.array_equal(a.items, b.items) and np.array_equal(a.offsets, b.offsets)
    assert np.array_equal(a.user_ids, b.user_ids) and np.array_equal(a.item_ids, b.item_ids)
  assert set(readers.FORMATS) == {"movielens", "amazon", "user_item_timestamp", "user_sequences"}
  with pytest.raises(ValueError, match="unknown data format"):
    readers.read("csv", FIXTURES / "ratings.dat")


def test_float_timestamps_and_crlf(tmp_path):
  path = _write(tmp_path, "uit.txt", "a x 2.5\r\na y 1.5\r\nb x 3\r\n")
  seqs = readers.read_user_item_timestamp(path)
  _check(seqs, ["a", "b"], ["x", "y"], [[2, 1], [1]])


def test_summary_table():
  seqs = readers.read_amazon(FIXTURES / "amazon_reviews.json")
  d = summary.summarize(seqs, "Tiny Amazon", windows=7)
  assert d["users"] == 4 and d["items"] == 4 and d["interactions"] == 14
  assert d["avg_seq_length"] == pytest.approx(3.5) and d["windows"] == 7
  text = summary.format_summary(d)
  assert "| Dataset" in text and "# Users" in text and "Avg Seq Length" in text
  assert "Tiny Amazon" in text and "3.5" in text
  assert "reviews_before_min_time" in text and "duplicate_events_dropped" in text


# ---------------------------------------------------------------------------------------------
# Ids are never merged or reordered; a BOM and blank lines are skipped and counted.

TEXT_FORMATS = ["movielens", "user_item_timestamp", "user_sequences"]
FIXTURE_NAMES = {"movielens": "ratings.dat", "amazon": "amazon_reviews.json",
                 "user_item_timestamp": "user_item_timestamp.txt",
                 "user_sequences": "user_sequences.txt", "delimited": "events.csv",
                 "recbole": "events.inter"}


def _events_text(fmt: str, events) -> str:
  """(user, item, time) events, in time order, written in format fmt."""
  if fmt == "movielens":
    return "".join(f"{u}::{i}::5::{t}\n" for u, i, t in events)
  if fmt == "user_item_timestamp":
    return "".join(f"{u} {i} {t}\n" for u, i, t in events)
  if fmt == "amazon":
    return "".join(_review(u, i, T0 + t) for u, i, t in events)
  lines = {}
  for u, i, _ in events:
    lines.setdefault(u, []).append(i)
  return "".join(f"{u} {' '.join(items)}\n" for u, items in lines.items())


def _read(fmt: str, path: Path):
  return readers.read(fmt, path, **({"min_count": 1} if fmt == "amazon" else {}))


def _lines(text: str) -> list[str]:
  """Lines split on '\\n' only (the Amazon fixture holds U+2028 inside reviews), with ends."""
  return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _same_data(a, b):
  for field in ("items", "offsets", "user_ids", "item_ids"):
    x, y = getattr(a, field), getattr(b, field)
    assert x.dtype == y.dtype and np.array_equal(x, y), field


# Users 007 and 7, items 05 and 5: four ids that an int() parse would merge into two.
LEADING_ZEROS = [("007", "1", 1), ("7", "2", 2), ("7", "05", 3), ("007", "5", 4)]


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_leading_zero_ids_stay_distinct(tmp_path, fmt):
  seqs = _read(fmt, _write(tmp_path, "data.txt", _events_text(fmt, LEADING_ZEROS)))
  # Integers first (numerically), then the ids that are not canonical integers (string order).
  _check(seqs, ["7", "007"], ["1", "2", "5", "05"], [[2, 4], [1, 3]])
  assert seqs.user_ids.dtype.kind == seqs.item_ids.dtype.kind == "U"
  assert seqs.report["user_ids_kept_as_text"] == 1 and seqs.report["item_ids_kept_as_text"] == 1
  assert seqs.report["users"] == 2 and seqs.report["items"] == 4


def test_amazon_leading_zero_ids_stay_distinct(tmp_path):
  seqs = _read("amazon", _write(tmp_path, "Kindle_Store.json",
                                _events_text("amazon", LEADING_ZEROS)))
  _check(seqs, ["007", "7"], ["05", "1", "2", "5"], [[2, 4], [3, 1]])  # Always string order.


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_integer_ids_keep_their_order_next_to_text_ids(tmp_path, fmt):
  """A non-numeric id never reorders the numeric ones: they keep numeric order, then the rest."""
  events = [("10", "30", 1), ("2", "4", 2), ("10", "4", 3)]
  numeric = _read(fmt, _write(tmp_path, "a.txt", _events_text(fmt, events)))
  _check(numeric, [2, 10], [4, 30], [[1], [2, 1]])
  assert numeric.user_ids.dtype == numeric.item_ids.dtype == np.int64
  assert numeric.report["user_ids_kept_as_text"] == numeric.report["item_ids_kept_as_text"] == 0
  more = events + [("0010", "040", 4), ("3", "4", 5)]
  mixed = _read(fmt, _write(tmp_path, "b.txt", _events_text(fmt, more)))
  _check(mixed, ["2", "3", "10", "0010"], ["4", "30", "040"], [[1], [1], [2, 1], [3]])


def test_only_lossless_integers_are_integers(tmp_path):
  users = ["+7", "7", "1_000", "1000", "-0", "0", "-3", "9223372036854775807",
           "9223372036854775808", "\u0667"]  # U+0667 is an Arabic-Indic 7: int() reads 7.
  path = _write(tmp_path, "uit.txt", "".join(f"{u} 1 {t}\n" for t, u in enumerate(users)))
  seqs = readers.read_user_item_timestamp(path)
  assert list(seqs.user_ids) == ["-3", "0", "7", "1000", "9223372036854775807", "+7", "-0",
                                 "1_000", "9223372036854775808", "\u0667"]
  assert seqs.report["user_ids_kept_as_text"] == 5


def test_text_ids_survive_tfds(tmp_path):
  from idw_jax.data import tfds_builders as tb
  path = _write(tmp_path, "seqs.txt", _events_text("user_sequences", LEADING_ZEROS))
  _same_data(readers.read_user_sequences(path),
             tb.load_via_tfds("user_sequences", path, tmp_path / "tfds"))


@pytest.mark.parametrize("fmt", formats.FORMATS)
@pytest.mark.parametrize("gz", [False, True])
def test_bom_is_stripped_and_counted(tmp_path, fmt, gz):
  data = (FIXTURES / FIXTURE_NAMES[fmt]).read_bytes()
  path = tmp_path / f"bom{Path(FIXTURE_NAMES[fmt]).suffix}"   # .csv: the separator
  path.write_bytes(_gzip_bytes(b"\xef\xbb\xbf" + data) if gz else b"\xef\xbb\xbf" + data)
  plain, bom = formats.read(fmt, FIXTURES / FIXTURE_NAMES[fmt]), formats.read(fmt, path)
  _same_data(plain, bom)
  assert plain.report["bom_stripped"] == 0 and bom.report["bom_stripped"] == 1
  assert {**plain.report, "file": "", "bom_stripped": 1} == {**bom.report, "file": ""}


def test_bom_keeps_integer_user_ids(tmp_path):
  """The measured bug: a BOM made every user id of a user_sequences file a string."""
  path = tmp_path / "seqs.txt"
  path.write_bytes("\ufeff2 1 2\n10 3\n".encode())
  seqs = readers.read_user_sequences(path)
  _check(seqs, [2, 10], [1, 2, 3], [[1, 2], [3]])
  assert seqs.user_ids.dtype == np.int64 and seqs.report["user_ids_kept_as_text"] == 0


@pytest.mark.parametrize("fmt", TEXT_FORMATS + ["amazon"])
def test_bom_inside_the_file_is_an_error(tmp_path, fmt):
  text = _events_text(fmt, [("1", "5", 1), ("2", "6", 2), ("3", "5", 3)])
  lines = _lines(text)
  path = _write(tmp_path, "data.txt", "".join(lines[:2]) + "\ufeff" + lines[2])
  with pytest.raises(DataError, match=_line_error(path, 3) + ".*byte order mark"):
    _read(fmt, path)


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_blank_lines_are_skipped_and_counted(tmp_path, fmt):
  lines = _lines((FIXTURES / FIXTURE_NAMES[fmt]).read_text(encoding="utf-8"))
  # A blank line inside, one of spaces, then a trailing blank line (CRLF).
  path = _write(tmp_path, f"blank{Path(FIXTURE_NAMES[fmt]).suffix}",
                lines[0] + "\n" + "".join(lines[1:-1]) + " \t \n" + lines[-1] + "\r\n")
  clean, blank = formats.read(fmt, FIXTURES / FIXTURE_NAMES[fmt]), formats.read(fmt, path)
  _same_data(clean, blank)
  assert clean.report["blank_lines_skipped"] == 0 and blank.report["blank_lines_skipped"] == 3
  assert blank.report["lines"] == clean.report["lines"] + 3


@pytest.mark.parametrize("fmt", TEXT_FORMATS + ["amazon"])
def test_errors_after_blank_lines_name_the_file_line(tmp_path, fmt):
  text = _events_text(fmt, [("1", "5", 1), ("2", "6", 2)])
  path = _write(tmp_path, "data.txt", "\n\n" + text + "\n" + "x\n")
  with pytest.raises(DataError, match=_line_error(path, 6)):
    _read(fmt, path)


def test_summary_shows_the_new_counts(tmp_path):
  path = tmp_path / "seqs.txt"
  path.write_bytes(("\ufeff" + _events_text("user_sequences", LEADING_ZEROS) + "\n").encode())
  seqs = readers.read_user_sequences(path)
  text = summary.format_summary(summary.summarize(seqs, "Tiny"))
  for key in ("bom_stripped", "blank_lines_skipped", "user_ids_kept_as_text",
              "item_ids_kept_as_text"):
    assert re.search(rf"^  {key} +1$", text, re.M), key


# ---------------------------------------------------------------------------------------------
# Bad input: a DataError naming the file and the line, or (duplicates) a counted decision.

ALL_READERS = [readers.read_movielens, readers.read_amazon, readers.read_user_item_timestamp,
               readers.read_user_sequences]


@pytest.mark.parametrize("reader", ALL_READERS)
def test_missing_file(tmp_path, reader):
  path = tmp_path / "nope" / "ratings.dat"
  with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
    reader(path)


@pytest.mark.parametrize("reader", ALL_READERS)
@pytest.mark.parametrize("content", [b"", b"\n  \n"])
def test_empty_file(tmp_path, reader, content):
  path = tmp_path / "empty.txt"
  path.write_bytes(content)
  with pytest.raises(DataError, match=_line_error(path, 1)):
    reader(path)


@pytest.mark.parametrize("reader", ALL_READERS)
def test_empty_gzip(tmp_path, reader):
  path = tmp_path / "empty.gz"
  path.write_bytes(_gzip_bytes(b""))
  with pytest.raises(DataError, match=_line_error(path, 1)):
    reader(path)


@pytest.mark.parametrize("reader,name", [
    (readers.read_movielens, "ratings.dat"), (readers.read_amazon, "amazon_reviews.json"),
    (readers.read_user_item_timestamp, "user_item_timestamp.txt"),
    (readers.read_user_sequences, "user_sequences.txt")])
def test_truncated_gzip(tmp_path, reader, name):
  data = (FIXTURES / name).read_bytes() * 50  # Long enough for a mid-stream cut.
  packed = _gzip_bytes(data)
  cut = packed[:len(packed) * 2 // 3]
  path = tmp_path / (name + ".gz")
  path.write_bytes(cut)
  readable = zlib.decompressobj(wbits=31).decompress(cut)
  line = readable.count(b"\n") + 1  # The line the stream ends in.
  with pytest.raises(DataError, match=_line_error(path, line) + ".*truncated"):
    reader(path)


def test_corrupt_gzip(tmp_path):
  packed = bytearray(_gzip_bytes((FIXTURES / "ratings.dat").read_bytes()))
  packed[-8] ^= 0xFF  # Wrong CRC.
  path = tmp_path / "ratings.dat.gz"
  path.write_bytes(bytes(packed))
  with pytest.raises(DataError, match=re.escape(str(path)) + ", line [0-9]+:.*gzip"):
    readers.read_movielens(path)


def test_bad_utf8(tmp_path):
  path = tmp_path / "seqs.txt"
  path.write_bytes(b"1 2 3\n2 \xff\xfe 4\n")
  with pytest.raises(DataError, match=_line_error(path, 2) + ".*UTF-8"):
    readers.read_user_sequences(path)


# movielens


@pytest.mark.parametrize("text,line,what", [
    ("1::10::5::100\n1::11::5\n", 2, "4 '::'-separated fields"),           # Too few fields.
    ("1::10::5::100::7\n", 1, "4 '::'-separated fields"),                   # Too many.
    ("1\t10\t5\t100\n", 1, "4 '::'-separated fields"),                      # Tab separated.
    ("1,10,5,100\n", 1, "4 '::'-separated fields"),                         # CSV.
    ("1::10::5::100\n\n1::10\n", 3, "4 '::'-separated fields"),  # Line numbers count blanks.
    ("1::10::5::100\nx1::10::5::100\n", 2, "integer UserID"),
    ("1::10::5::100\n1::m11::5::100\n", 2, "integer MovieID"),
    ("1::10::5::100\n1::11::five::100\n", 2, "numeric Rating"),
    ("1::10::5::100\n1::11::5::1e9\n", 2, "integer Timestamp"),
    ("1::10::5::100\n1::11::5::\n", 2, "integer Timestamp"),
])
def test_movielens_bad_lines(tmp_path, text, line, what):
  path = _write(tmp_path, "ratings.dat", text)
  with pytest.raises(DataError, match=_line_error(path, line) + ".*" + re.escape(what)):
    readers.read_movielens(path)


def test_movielens_duplicates(tmp_path):
  path = _write(tmp_path, "ratings.dat",
                "1::10::5::100\n1::11::4::90\n1::10::3::100\n1::10::5::200\n")
  seqs = readers.read_movielens(path)
  # Line 3 repeats line 1's (user, movie, timestamp): dropped and counted. Line 4 is kept.
  assert seqs.report["duplicate_events_dropped"] == 1
  assert seqs.sequence(0).tolist() == [2, 1, 1]
  with pytest.raises(DataError, match=_line_error(path, 3) + ".*duplicate.*line 1"):
    readers.read_movielens(path, drop_duplicates=False)


# user_item_timestamp


@pytest.mark.parametrize("text,line,what", [
    ("1::10::5::100\n", 1, "3 whitespace-separated fields"),   # A ratings.dat file.
    ("1,10,100\n", 1, "3 whitespace-separated fields"),        # CSV.
    ("1 10 100\n1 11\n", 2, "3 whitespace-separated fields"),
    ("1 10 100\n1 11 100 5\n", 2, "3 whitespace-separated fields"),
    ("1 10 100\n1 11 yesterday\n", 2, "numeric timestamp"),
    ("1 10 100\n1 11 nan\n", 2, "finite timestamp"),
])
def test_user_item_timestamp_bad_lines(tmp_path, text, line, what):
  path = _write(tmp_path, "user_item_mapped.txt", text)
  with pytest.raises(DataError, match=_line_error(path, line) + ".*" + re.escape(what)):
    readers.read_user_item_timestamp(path)


def test_user_item_timestamp_duplicates(tmp_path):
  path = _write(tmp_path, "uit.txt", "1 10 100\n1 11 50\n2 10 7\n1 10 100\n")
  seqs = readers.read_user_item_timestamp(path)
  assert seqs.report["duplicate_events_dropped"] == 1
  assert [seqs.sequence(u).tolist() for u in range(2)] == [[2, 1], [1]]
  with pytest.raises(DataError, match=_line_error(path, 4) + ".*duplicate.*line 1"):
    readers.read_user_item_timestamp(path, drop_duplicates=False)


# user_sequences


def test_user_sequences_user_on_two_lines(tmp_path):
  path = _write(tmp_path, "seqs.txt", "1 5 6\n2 7\n3 5\n2 8 9\n")
  with pytest.raises(DataError, match=_line_error(path, 4) + ".*already has a line.*line 2"):
    readers.read_user_sequences(path)


@pytest.mark.parametrize("text,line", [("1 5 6\n2\n", 2), ("1 5 6\n\n2\n", 3)])
def test_user_sequences_line_without_items(tmp_path, text, line):
  path = _write(tmp_path, "seqs.txt", text)
  with pytest.raises(DataError, match=_line_error(path, line) + ".*at least one item"):
    readers.read_user_sequences(path)


def test_user_sequences_duplicates(tmp_path):
  path = _write(tmp_path, "seqs.txt", "1 5 6 5 7\n2 6\n")
  seqs = readers.read_user_sequences(path)
  assert seqs.report["duplicate_events_dropped"] == 1
  assert seqs.sequence(0).tolist() == [1, 2, 3]  # The later 5 goes.
  with pytest.raises(DataError, match=_line_error(path, 1) + ".*duplicate item"):
    readers.read_user_sequences(path, drop_duplicates=False)


# amazon


def _review(user="A1", asin="B1", t=T0 + 1) -> str:
  return f'{{"reviewerID": "{user}", "asin": "{asin}", "unixReviewTime": {t}, "overall": 5.0}}\n'


@pytest.mark.parametrize("bad,what", [
    ('{"reviewerID": "A1", "asin": "B2", "unixReviewTime": 1026900500\n', "invalid JSON"),
    ("}\n", "invalid JSON"),
    ('{"reviewerID": "A1", "unixReviewTime": 1026900500}\n', "missing field 'asin'"),
    ('{"asin": "B2", "unixReviewTime": 1026900500}\n', "missing field 'reviewerID'"),
    ('{"reviewerID": "A1", "asin": "B2"}\n', "missing field 'unixReviewTime'"),
    ('{"reviewerID": "A1", "asin": "B2", "unixReviewTime": "1026900500"}\n',
     "integer unixReviewTime"),
    ('["A1", "B2", 1026900500]\n', "JSON object"),
    ('{"reviewerID": 7, "asin": "B2", "unixReviewTime": 1026900500}\n', "string reviewerID"),
])
def test_amazon_bad_lines(tmp_path, bad, what):
  path = _write(tmp_path, "Kindle_Store.json", _review() + _review(asin="B3") + bad)
  with pytest.raises(DataError, match=_line_error(path, 3) + ".*" + re.escape(what)):
    readers.read_amazon(path)


def test_amazon_duplicates_are_dropped_after_counting(tmp_path):
  lines = [_review("A1", "B1", T0 + 5)] * 2 + [_review("A1", f"B{k}", T0 + k) for k in (2, 3)]
  path = _write(tmp_path, "Kindle_Store.json", "".join(lines))
  seqs = readers.read_amazon(path, min_count=1)
  assert seqs.report["duplicate_events_dropped"] == 1
  assert seqs.sequence(0).tolist() == [2, 3, 1]
  with pytest.raises(DataError, match=_line_error(path, 2) + ".*duplicate review.*line 1"):
    readers.read_amazon(path, min_count=1, drop_duplicates=False)


def test_amazon_nothing_left(tmp_path):
  path = _write(tmp_path, "Kindle_Store.json", _review() * 3)
  with pytest.raises(DataError, match=re.escape(str(path)) + ".*no review is left"):
    readers.read_amazon(path)
