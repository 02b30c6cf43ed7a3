"""CSV/TSV and RecBole .inter readers (idw_jax/data/delimited.py): hand-made files, checked
against the sequences worked out by hand and against the `user item timestamp` reader."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from idw_jax import config as config_lib
from idw_jax.data import delimited, formats, pipeline, readers
from idw_jax.data.readers import DataError

# The same five events (one a duplicate) in every format; by hand: users 7 and u2 (integers
# first), items 10 < 11 < 12 < x9; user 7 oldest first: 11 (t=3), 10 (t=5), 12 (t=5, later in
# the file); u2: x9, 10; the repeated (7, 10, 5) is dropped.
UIT = "7 10 5\n7 11 3\nu2 x9 1\n7 12 5\nu2 10 2\n7 10 5\n"
ROWS = [("7", "10", "5"), ("7", "11", "3"), ("u2", "x9", "1"), ("7", "12", "5"),
        ("u2", "10", "2"), ("7", "10", "5")]
USERS = ["7", "u2"]
ITEMS = ["10", "11", "12", "x9"]
SEQUENCES = [[2, 1, 3], [4, 1]]


def _write(path: Path, text: str, gz: bool = False) -> Path:
  data = text.encode("utf-8")
  path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
  return path


def _csv(rows, order=(0, 1, 2), names=("user", "item", "timestamp"), sep=",") -> str:
  head = sep.join(names[k] for k in order)
  return "\n".join([head] + [sep.join(r[k] for k in order) for r in rows]) + "\n"


def _same(a, b):
  assert a.items.tolist() == b.items.tolist() and a.offsets.tolist() == b.offsets.tolist()
  assert a.user_ids.tolist() == b.user_ids.tolist()
  assert a.item_ids.tolist() == b.item_ids.tolist() and a.num_items == b.num_items


def _by_hand(seqs):
  assert [str(u) for u in seqs.user_ids] == USERS
  assert [str(i) for i in seqs.item_ids[1:]] == ITEMS
  assert [seqs.sequence(u).tolist() for u in range(seqs.num_users)] == SEQUENCES
  assert seqs.report["duplicate_events_dropped"] == 1


@pytest.mark.parametrize("gz", [False, True])
def test_csv_inter_and_user_item_timestamp_agree(tmp_path, gz):
  uit = readers.read_user_item_timestamp(_write(tmp_path / "e.txt", UIT, gz))
  _by_hand(uit)
  inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(
      f"{u}\t{i}\t4.5\t{t}\n" for u, i, t in ROWS)
  csv_ = formats.read("delimited", _write(tmp_path / "e.csv.gz", _csv(ROWS), gz))
  rec = formats.read("recbole", _write(tmp_path / "e.inter", inter, gz))
  typed = delimited.read_recbole(tmp_path / "e.inter", user="user_id:token",
                                 item="item_id:token", time="timestamp:float")
  for seqs in (csv_, rec, typed):   # a column may be named as the header spells it, type too
    _same(seqs, uit)
    assert seqs.report["lines"] == 7 and seqs.report["header_lines"] == 1


def test_columns_in_any_order_tsv_and_no_header(tmp_path):
  ref = readers.read_user_item_timestamp(_write(tmp_path / "e.txt", UIT))
  shuffled = formats.read("delimited", _write(tmp_path / "e.csv", _csv(ROWS, (2, 0, 1))))
  tsv = formats.read("delimited", _write(tmp_path / "e.tsv", _csv(ROWS, (1, 2, 0), sep="\t")))
  bare = _write(tmp_path / "e.dat", _csv(ROWS, (1, 2, 0), sep=";").split("\n", 1)[1])
  no_header = delimited.read_delimited(bare, delimiter=";", header=False, user="2", item="0",
                                       time="1")
  named = delimited.read_delimited(
      _write(tmp_path / "n.csv", _csv(ROWS, names=("uid", "sku", "ts"))),
      user="uid", item="sku", time="ts")
  for seqs in (shuffled, tsv, no_header, named):
    _same(seqs, ref)
  assert no_header.report["header_lines"] == 0
  assert no_header.report["columns"] == "user=2 item=0 time=1"


def test_quoted_fields_follow_the_csv_module(tmp_path):
  text = ('user,item,timestamp,review\n"a,b",10,1,"good, ""really"""\n'
          '"a,b","x\ny",2,"two\nlines"\nc,10,3,\n')
  seqs = formats.read("delimited", _write(tmp_path / "q.csv", text))
  assert seqs.user_ids.tolist() == ["a,b", "c"]
  assert seqs.item_ids[1:].tolist() == ["10", "x\ny"]
  assert [seqs.sequence(u).tolist() for u in range(2)] == [[1, 2], [1]]
  assert seqs.report["lines"] == 6        # a quoted line break is a line of the file
  bad = _write(tmp_path / "bad.csv", 'user,item,timestamp\na,1,1\n"b"x,2,2\n')
  with pytest.raises(DataError, match=re.escape(f"{bad}, line 3:")):
    formats.read("delimited", bad)


def test_without_a_time_column_the_file_order_is_the_time_order(tmp_path):
  path = _write(tmp_path / "e.csv", "user,item\n1,30\n1,20\n2,20\n1,30\n1,10\n")
  seqs = delimited.read_delimited(path, time="none")
  assert seqs.item_ids[1:].tolist() == [10, 20, 30]
  assert [seqs.sequence(u).tolist() for u in range(2)] == [[3, 2, 1], [2]]
  assert seqs.report["duplicate_events_dropped"] == 1    # (1, 30) again: no time tells them apart
  assert seqs.report["columns"] == "user=user item=item time=file order"


def test_bom_and_blank_lines_are_counted(tmp_path):
  text = "\ufeffuser,item,timestamp\n\n1,10,1\n   \n1,11,2\n\n"
  seqs = formats.read("delimited", _write(tmp_path / "b.csv", text))
  assert seqs.report["bom_stripped"] == 1 and seqs.report["blank_lines_skipped"] == 3
  assert seqs.report["lines"] == 6 and seqs.sequence(0).tolist() == [1, 2]


@pytest.mark.parametrize("name,text,line,what", [
    ("e.csv", "user,item,timestamp\n1,10,1\n\n1,11,soon\n", 4, "numeric timestamp"),
    ("e.csv", "user,item,timestamp\n1,10,1\n1,11\n", 3, "expected 3 fields"),
    ("e.csv", "user,item,timestamp\n1,,1\n", 2, "empty item id"),
    ("e.inter", "user_id:token\titem_id\ttimestamp:float\n1\t2\t3\n", 1, "name:type"),
    ("e.csv", "user,item,user\n1,2,3\n", 1, "names a column twice"),
])
def test_a_bad_line_names_the_file_and_line(tmp_path, name, text, line, what):
  path = _write(tmp_path / name, text)
  fmt = "recbole" if name.endswith(".inter") else "delimited"
  with pytest.raises(DataError, match=re.escape(f"{path}, line {line}:") + ".*" + what):
    formats.read(fmt, path)


def test_a_missing_column_is_one_line_naming_the_file_and_header(tmp_path):
  path = _write(tmp_path / "e.csv", "userId,movieId,timestamp\n1,2,3\n")
  with pytest.raises(DataError) as err:
    formats.read("delimited", path)
  msg = str(err.value)
  assert "\n" not in msg and str(path) in msg and "'user'" in msg
  assert "['userId', 'movieId', 'timestamp']" in msg and "config.data.columns.user" in msg
  inter = _write(tmp_path / "e.inter", "user_id:token\titem_id:token\n1\t2\n")
  with pytest.raises(DataError, match="no column 'timestamp' for the time"):
    formats.read("recbole", inter)
  with pytest.raises(DataError, match="0-based index below 3"):
    delimited.read_delimited(path, header=False, time="3")


def test_the_separator_comes_from_the_config_or_the_name(tmp_path):
  assert delimited.delimiter_for("a.CSV.gz") == "," and delimited.delimiter_for("a.tsv") == "\t"
  assert delimited.delimiter_for("a.txt", "tab") == "\t" == delimited.delimiter_for("a", "\\t")
  with pytest.raises(ValueError, match="a.txt: cannot tell the separator.*data.delimiter"):
    delimited.delimiter_for("a.txt")
  with pytest.raises(ValueError, match="config.data.delimiter"):
    delimited.delimiter_for("a.csv", ";;")


def test_duplicates_may_be_an_error(tmp_path):
  path = _write(tmp_path / "e.csv", _csv(ROWS))
  with pytest.raises(DataError, match=re.escape(f"{path}, line 7:") + ".*first seen on line 2"):
    delimited.read_delimited(path, drop_duplicates=False)


def _cfg(path, **fields):
  c = config_lib.get_config_for({"data.name": "mine", "data.source": "delimited",
                                 "data.path": str(path)}, "mur_idw")
  for k, v in fields.items():
    config_lib.set_field(c, k, v)
  return config_lib.finalize(c)


def test_config_fields_reach_the_reader_and_tfds_says_no_download(tmp_path, capfd):
  path = _write(tmp_path / "e.csv", _csv(ROWS, names=("u", "i", "t"), sep="|"))
  cfg = _cfg(path, **{"data.columns.user": "u", "data.columns.item": "i",
                      "data.columns.time": "t", "data.delimiter": "|"})
  direct = pipeline.load_sequences(cfg.data)
  capfd.readouterr()
  built = pipeline.load_sequences(cfg.data, str(tmp_path / "tfds"))
  out = capfd.readouterr()
  assert "Download" not in out.out + out.err
  for seqs in (direct, built):
    _same(seqs, readers.read_user_item_timestamp(_write(tmp_path / "e.txt", UIT)))
  with pytest.raises(ValueError, match="config.data.delimiter"):
    _cfg(path, **{"data.delimiter": "||"})


def test_fingerprint_follows_the_file(tmp_path):
  from idw_jax.data import fingerprint
  path = _write(tmp_path / "e.csv", _csv(ROWS))
  cfg = _cfg(path)
  before = fingerprint.of_data(cfg.data)
  assert before.startswith(fingerprint.PREFIX)
  _write(path, _csv(ROWS[:-1]))
  assert fingerprint.of_data(cfg.data) != before


def test_formats_are_the_config_choices():
  assert formats.FORMATS == readers.FORMATS + ("delimited", "recbole")
  assert config_lib.specs()["data.source"].choices == ("synthetic",) + formats.FORMATS
  with pytest.raises(ValueError, match="unknown data format 'csv'"):
    formats.read("csv", "x.csv")


def test_vocabulary_keeps_the_files_raw_ids(tmp_path):
  from idw_jax.data import vocab
  for items, raw in (([30, 7, 12, 7], [None, 7, 12, 30]),
                     ([30, 7, "x9", 12, 7], [None, "7", "12", "30", "x9"])):  # x9: all text
    path = _write(tmp_path / "e.csv", "user,item,timestamp\n" + "".join(
        f"1,{i},{t}\n" for t, i in enumerate(items)))
    cfg = _cfg(path, **{"data.protocol.num_negatives": 0})
    splits = pipeline.make_splits(cfg.data, pipeline.load_sequences(cfg.data))
    assert vocab.dense_to_raw(splits) == raw


def test_the_fixtures_hold_the_user_item_timestamp_fixture():
  fixtures = Path(__file__).resolve().parent / "data" / "readers"
  ref = readers.read_user_item_timestamp(fixtures / "user_item_timestamp.txt")
  for fmt, name in (("delimited", "events.csv"), ("recbole", "events.inter")):
    _same(formats.read(fmt, fixtures / name), ref)
