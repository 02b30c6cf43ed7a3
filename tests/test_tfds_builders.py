"""TFDS builders: a built dataset reads back as exactly what the direct reader returns."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from idw_jax.data import readers
from idw_jax.data import tfds_builders as tb

FIXTURES = Path(__file__).resolve().parent / "data" / "readers"
CASES = [("movielens", "ratings.dat.gz"), ("amazon", "amazon_reviews.json"),
         ("user_item_timestamp", "user_item_timestamp.txt"),
         ("user_sequences", "user_sequences.txt")]


def assert_same(a, b):
  """Two UserSequences hold the same users, items, ids and report."""
  assert a.num_items == b.num_items
  for field in ("items", "offsets", "user_ids", "item_ids"):
    x, y = getattr(a, field), getattr(b, field)
    assert x.dtype.kind == y.dtype.kind, field
    assert np.array_equal(x, y), field
  assert a.report == b.report


@pytest.mark.parametrize("fmt,name", CASES)
def test_round_trip_equals_direct_reader(tmp_path, fmt, name):
  path = FIXTURES / name
  seqs = tb.load_via_tfds(fmt, path, tmp_path / "tfds")
  assert_same(readers.read(fmt, path), seqs)
  # Built once: the second call reads the prepared dataset.
  config = tb.file_config(path, fmt)
  assert tb.BUILDER_FOR_FORMAT[fmt](config=config, data_dir=str(tmp_path / "tfds")).is_prepared()
  assert_same(seqs, tb.load_via_tfds(fmt, path, tmp_path / "tfds"))


def test_fast_read_equals_tfds_decoding(tmp_path):
  path = FIXTURES / "user_sequences.txt"
  builder = tb.prepare(tb.IdwUserSequences, FIXTURES, tmp_path,
                       config=tb.file_config(path, "user_sequences"))
  records = sorted(tb.decoded_records(builder), key=lambda r: r["index"])
  seqs = tb.sequences_from_builder(builder)
  assert [r["user"].decode() for r in records] == list(seqs.user_ids)
  for u, r in enumerate(records):
    assert r["items"].dtype == np.int64
    assert np.array_equal(r["items"], seqs.sequence(u))
  assert builder.info.metadata["num_items"] == seqs.num_items == 3
  assert builder.info.file_format.value == "array_record"


@pytest.mark.parametrize("builder_cls,raw_name", [
    (tb.IdwMovielens1m, "ratings.dat"), (tb.IdwAmazonKindleStore, "Kindle_Store.json.gz"),
    (tb.IdwAmazonClothing, "Clothing_Shoes_and_Jewelry.json"),
    (tb.IdwUserItemTimestamp, "user_item_mapped.txt")])
def test_dataset_builders_find_their_file(tmp_path, builder_cls, raw_name):
  source = {"ratings.dat": "ratings.dat", "Kindle_Store.json.gz": "amazon_reviews.json.gz",
            "Clothing_Shoes_and_Jewelry.json": "amazon_reviews.json",
            "user_item_mapped.txt": "user_item_timestamp.txt"}[raw_name]
  manual = tmp_path / "manual"
  manual.mkdir()
  shutil.copy(FIXTURES / source, manual / raw_name)
  builder = tb.prepare(builder_cls, manual, tmp_path / "tfds")
  fmt = builder_cls.RAW_FILES[0][1]
  assert_same(readers.read(fmt, manual / raw_name), tb.sequences_from_builder(builder))
  assert builder.info.metadata["source_file"] == raw_name


@pytest.mark.parametrize("builder_cls,file_name,url", [
    (tb.IdwMovielens1m, "ratings.dat", tb.GROUPLENS_ML1M_URL),
    (tb.IdwAmazonKindleStore, "Kindle_Store.json.gz", tb.AMAZON_2018_URL),
    (tb.IdwAmazonClothing, "Clothing_Shoes_and_Jewelry.json.gz", tb.AMAZON_2018_URL)])
def test_missing_raw_file_says_where_to_get_it(tmp_path, builder_cls, file_name, url):
  manual = tmp_path / "manual"
  manual.mkdir()
  (manual / "unrelated.txt").write_text("x")
  with pytest.raises(FileNotFoundError) as err:
    tb.prepare(builder_cls, manual, tmp_path / "tfds")
  message = str(err.value)
  assert str(manual) in message and file_name in message and url in message
  # Also when the manual directory does not exist at all.
  with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "absent"))):
    tb.prepare(builder_cls, tmp_path / "absent", tmp_path / "tfds")


def test_load_via_tfds_missing_file_and_bad_format(tmp_path):
  with pytest.raises(FileNotFoundError, match=re.escape("ratings.dat")):
    tb.load_via_tfds("movielens", tmp_path / "ratings.dat", tmp_path / "tfds")
  with pytest.raises(ValueError, match="unknown data format"):
    tb.load_via_tfds("csv", FIXTURES / "ratings.dat", tmp_path / "tfds")


def test_bad_raw_file_fails_the_build_with_the_reader_error(tmp_path):
  path = tmp_path / "ratings.dat"
  path.write_text("1::10::5::100\n1\t11\t5\t100\n")
  with pytest.raises(readers.DataError, match=re.escape(f"{path}, line 2:")):
    tb.load_via_tfds("movielens", path, tmp_path / "tfds")
  # A failed build leaves no folder behind that a later run could take for a cache.
  assert not (tmp_path / "tfds" / "idw_movielens1m").exists()
