"""TFDS builders of the real datasets: a raw file in `manual_dir` to ArrayRecord, a record per user.

Nothing is downloaded: every builder reads a raw file that the user obtained (see each builder's
`MANUAL_DOWNLOAD_INSTRUCTIONS`) through `idw_jax.data.readers`, so a built dataset holds exactly
what the direct reader returns. Works without TensorFlow (docs/design.md, "Data"): ArrayRecord
files, read back with `as_data_source`.

Record (one per user): {"index": int64 position of the user in the reader's order,
"user": original user id as text, "items": int64[n] dense item ids, oldest first}.
Dataset metadata (`info.metadata`, saved as metadata.json): num_items, item_ids (original id of
each dense id, index 0 unused), whether user ids are integers, the reader's report, the source
file.

Usage:
  builder = prepare(IdwMovielens1m, manual_dir="~/data/ml-1m", data_dir="~/tfds")
  seqs = sequences_from_builder(builder)
  seqs = load_via_tfds("user_sequences", "Clothing.txt", data_dir="~/tfds")  # any one file
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from tensorflow_datasets.proto import tf_example_pb2

from idw_jax import logs
from idw_jax.data import formats
from idw_jax.data.types import UserSequences

GROUPLENS_ML1M_URL = "https://grouplens.org/datasets/movielens/1m/"
AMAZON_2018_URL = "https://nijianmo.github.io/amazon/index.html"

_SPLIT = "train"
_READ_BATCH = 1 << 16


@dataclasses.dataclass(eq=False)
class RawFileConfig(tfds.core.BuilderConfig):
  """Which raw file of `manual_dir` to read, and as which format (`formats.FORMATS`).

  filename None: the builder looks for its known file names (`RAW_FILES`), first found wins.
  options: the reader's keyword arguments as sorted (name, value) pairs (delimited, recbole:
  the separator and columns; `delimited.options`).
  """
  filename: str | None = None
  format: str | None = None
  options: tuple = ()


class _UserSequencesBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Shared body: find the raw file, read it, write one record per user."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "One record per user: index, user, items (dense ids).",
                   "1.1.0": "Readers keep ids that are not plain integers as text (007 != 7), "
                            "strip a BOM and skip blank lines: datasets built before are rebuilt."}
  BUILDER_CONFIGS = [RawFileConfig(name="default")]
  # (file name in manual_dir, reader format), in order of preference.
  RAW_FILES: tuple[tuple[str, str], ...] = ()
  # Reader format of a file named by RawFileConfig(filename=...) without a format.
  FORMAT = ""
  # What to obtain and where, for error messages.
  SOURCE_HINT = ""
  # Nothing is downloaded, so no checksums file: skips TFDS's lookup of one next to this module
  # (which needs the undeclared `importlib_resources` package).
  code_path = None

  def __init__(self, *, file_format: str = "array_record", **kwargs):
    super().__init__(file_format=file_format, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.__doc__,
        features=tfds.features.FeaturesDict({
            "index": tfds.features.Scalar(dtype=np.int64),
            "user": tfds.features.Text(),
            "items": tfds.features.Tensor(shape=(None,), dtype=np.int64),
        }),
        metadata=tfds.core.MetadataDict(),
        homepage=self.SOURCE_HINT or None,
    )

  def raw_file(self, manual_dir: str | os.PathLike) -> tuple[Path, str]:
    """(path, format) of the raw file in manual_dir; FileNotFoundError says what to get, where."""
    manual_dir = Path(manual_dir)
    config = self.builder_config
    if config.filename is not None:
      candidates = ((config.filename, config.format or self.FORMAT),)
    else:
      candidates = self.RAW_FILES
    for name, fmt in candidates:
      if (manual_dir / name).is_file():
        return manual_dir / name, fmt
    raise FileNotFoundError(missing_message(type(self), manual_dir, [c[0] for c in candidates]))

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    try:
      manual_dir = dl_manager.manual_dir
    except (AssertionError, ValueError):  # TFDS: manual_dir missing or empty.
      manual_dir = getattr(dl_manager, "_manual_dir", None) or "<manual_dir not set>"
    path, fmt = self.raw_file(manual_dir)
    seqs = formats.read(fmt, path, **dict(self.builder_config.options))
    self.info.metadata.update(_metadata(seqs, path, fmt))
    return {_SPLIT: self._generate_examples(seqs)}

  # TFDS prints "Downloading and preparing dataset ..." and "... downloaded and prepared" on
  # stdout for every build; nothing is downloaded here, so a build says one line in the log.
  def _log_download_bytes(self) -> None:
    logging.info("building %s from the local file %s", self.name, self.builder_config.filename)

  def _log_download_done(self) -> None:
    pass

  def _generate_examples(self, seqs: UserSequences):
    users = seqs.user_ids.astype(str)
    items = seqs.items.astype(np.int64)
    offsets = seqs.offsets
    for u in range(seqs.num_users):
      yield u, {"index": u, "user": users[u], "items": items[offsets[u]:offsets[u + 1]]}


def missing_message(builder_cls: type, manual_dir: Path, names: list[str]) -> str:
  """Names the directory looked in, the file(s) to obtain and where they are published."""
  hint = builder_cls.SOURCE_HINT or "the file named in the builder config"
  return (f"{builder_cls.__name__}: none of {names} found in {manual_dir}. Obtain {names[0]} "
          f"({hint}) and put it in that directory.")


def _metadata(seqs: UserSequences, path: Path, fmt: str) -> dict[str, Any]:
  """JSON-able facts needed to turn the records back into the same `UserSequences`."""
  return {
      "num_items": int(seqs.num_items),
      "num_users": int(seqs.num_users),
      "num_interactions": int(seqs.num_interactions),
      "item_ids": seqs.item_ids.tolist(),
      "user_ids_are_integers": bool(np.issubdtype(seqs.user_ids.dtype, np.integer)),
      "report": _jsonable(seqs.report),
      "source_file": path.name,
      "source_bytes": path.stat().st_size,
      "format": fmt,
  }


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
  return {k: v.item() if isinstance(v, np.generic) else v for k, v in d.items()}


# ---------------------------------------------------------------------------------------------
# One builder per dataset, and one per generic format (text, delimited, RecBole).


class IdwMovielens1m(_UserSequencesBuilder):
  """MovieLens-1M: every rating, each user's movies in time order (6,040 users, 3,706 items)."""

  FORMAT = "movielens"
  RAW_FILES = (("ratings.dat", "movielens"), ("ratings.dat.gz", "movielens"),
               ("ml-1m/ratings.dat", "movielens"),
               ("ml-1m_user_sequences.txt.gz", "user_sequences"),
               ("ml-1m_user_sequences.txt", "user_sequences"))
  SOURCE_HINT = (f"ratings.dat is inside ml-1m.zip, published by GroupLens at "
                 f"{GROUPLENS_ML1M_URL}; the project's ml-1m_user_sequences.txt.gz also works")
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"Download ml-1m.zip from {GROUPLENS_ML1M_URL}, and put its ratings.dat (or ratings.dat.gz) "
      "in manual_dir. Or put ml-1m_user_sequences.txt.gz (user, then items oldest first) there.")


class IdwAmazonReviews(_UserSequencesBuilder):
  """Amazon review data (2018), one category, with the authors' filters (readers.read_amazon)."""

  FORMAT = "amazon"
  SOURCE_HINT = (f"the category's 'complete review data' file of Amazon review data (2018), "
                 f"J. Ni, UCSD, {AMAZON_2018_URL}")
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"Download the category's complete review file <Category>.json.gz (not the 5-core or "
      f"ratings-only file) from {AMAZON_2018_URL} and put it in manual_dir.")


class IdwAmazonKindleStore(IdwAmazonReviews):
  """Amazon 2018 Kindle Store (paper: 139,769 users, 98,769 items)."""

  RAW_FILES = (("Kindle_Store.json.gz", "amazon"), ("Kindle_Store.json", "amazon"))
  SOURCE_HINT = ("Kindle_Store.json.gz, 'Kindle Store' complete review data of Amazon review data "
                 f"(2018), J. Ni, UCSD, {AMAZON_2018_URL}")
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"Download Kindle_Store.json.gz (Kindle Store, complete review data) from {AMAZON_2018_URL} "
      "and put it in manual_dir.")


class IdwAmazonClothing(IdwAmazonReviews):
  """Amazon 2018 Clothing, Shoes and Jewelry (paper: 1,219,594 users, 376,438 items)."""

  RAW_FILES = (("Clothing_Shoes_and_Jewelry.json.gz", "amazon"),
               ("Clothing_Shoes_and_Jewelry.json", "amazon"))
  SOURCE_HINT = ("Clothing_Shoes_and_Jewelry.json.gz, 'Clothing, Shoes and Jewelry' complete "
                 f"review data of Amazon review data (2018), J. Ni, UCSD, {AMAZON_2018_URL}")
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download Clothing_Shoes_and_Jewelry.json.gz (Clothing, Shoes and Jewelry, complete review "
      f"data) from {AMAZON_2018_URL} and put it in manual_dir.")


class IdwUserItemTimestamp(_UserSequencesBuilder):
  """Any `user item timestamp` file (e.g. the authors' user_item_mapped.txt)."""

  FORMAT = "user_item_timestamp"
  RAW_FILES = (("user_item_mapped.txt", "user_item_timestamp"),)
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Put the `user item timestamp` file in manual_dir, named user_item_mapped.txt or as given "
      "by RawFileConfig(filename=...).")


class IdwUserSequences(_UserSequencesBuilder):
  """Any `user item item ...` file (one line per user, oldest first)."""

  FORMAT = "user_sequences"
  RAW_FILES = (("user_sequences.txt", "user_sequences"),
               ("user_sequences.txt.gz", "user_sequences"))
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Put the `user item item ...` file in manual_dir, named user_sequences.txt(.gz) or as given "
      "by RawFileConfig(filename=...).")


class IdwDelimited(_UserSequencesBuilder):
  """Any CSV/TSV file of events, columns as its RawFileConfig's options say (data/delimited.py)."""

  FORMAT = "delimited"
  MANUAL_DOWNLOAD_INSTRUCTIONS = "Name the file with RawFileConfig(filename=..., options=...)."


class IdwRecbole(_UserSequencesBuilder):
  """Any RecBole atomic .inter file (data/delimited.py)."""

  FORMAT = "recbole"
  MANUAL_DOWNLOAD_INSTRUCTIONS = "Name the file with RawFileConfig(filename=...)."


BUILDER_FOR_FORMAT: dict[str, type[_UserSequencesBuilder]] = {
    "movielens": IdwMovielens1m,
    "amazon": IdwAmazonReviews,
    "user_item_timestamp": IdwUserItemTimestamp,
    "user_sequences": IdwUserSequences,
    "delimited": IdwDelimited,
    "recbole": IdwRecbole,
}


# ---------------------------------------------------------------------------------------------
# Build and read back.


def file_config(path: str | os.PathLike, format: str,  # pylint: disable=redefined-builtin
                options: dict | None = None) -> RawFileConfig:
  """A config naming one file read with the reader's `options`; its name follows the file's
  path, size and mtime and the options (no stale cache)."""
  path = Path(path).resolve()
  stat = path.stat()
  key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
  if options:   # only then: the other formats keep the names of the datasets built before
    key += "|" + json.dumps(options, sort_keys=True)
  digest = hashlib.sha1(key.encode()).hexdigest()[:10]
  stem = re.sub(r"[^a-z0-9]+", "_", path.name.lower()).strip("_")[:40]
  return RawFileConfig(name=f"{stem}_{digest}", filename=path.name, format=format,
                       options=tuple(sorted((options or {}).items())),
                       description=f"{format} file {path}")


def prepare(builder_cls: type[_UserSequencesBuilder], manual_dir: str | os.PathLike,
            data_dir: str | os.PathLike, *,
            config: RawFileConfig | None = None) -> _UserSequencesBuilder:
  """Builds the dataset under data_dir unless already built there; returns the builder.

  A built dataset is reused as is (TFDS caching): after replacing the raw file of a default
  config, delete its directory first. Configs from `file_config` change name with the file.
  """
  manual_dir, data_dir = Path(manual_dir).expanduser(), Path(data_dir).expanduser()
  builder = builder_cls(config=config, data_dir=os.fspath(data_dir))
  if not builder.is_prepared():
    builder.raw_file(manual_dir)  # Fail early, naming the directory and what to get.
    config_dir = Path(builder.data_dir).parent       # <data_dir>/<name>/<config>
    made = [d for d in (config_dir.parent, config_dir) if not d.exists()]
    try:
      builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
          manual_dir=os.fspath(manual_dir)))
    except BaseException:
      for d in reversed(made):   # a failed build leaves no folder that looks like a cache
        shutil.rmtree(d, ignore_errors=True)
      raise
  return builder


def load_via_tfds(format: str, path: str | os.PathLike,  # pylint: disable=redefined-builtin
                  data_dir: str | os.PathLike, options: dict | None = None) -> UserSequences:
  """Builds `path` (a raw file of `format`, read with the reader's `options`) under data_dir
  with TFDS if needed; reads it back."""
  if format not in BUILDER_FOR_FORMAT:
    raise ValueError(f"unknown data format {format!r}; expected one of {formats.FORMATS}")
  path = Path(path).expanduser()
  builder_cls = BUILDER_FOR_FORMAT[format]
  if not path.is_file():
    raise FileNotFoundError(missing_message(builder_cls, path.parent, [path.name]))
  with logs.quiet(logging.ERROR):   # TFDS: "custom data configuration", a fresh build's notes
    if not sys.stderr.isatty():
      tfds.disable_progress_bar()     # in a log file the bars are noise
    builder = prepare(builder_cls, path.parent, data_dir, config=file_config(path, format, options))
  return sequences_from_builder(builder)


def sequences_from_builder(builder: tfds.core.DatasetBuilder) -> UserSequences:
  """Reads a built dataset back into the `UserSequences` the direct reader returns.

  Records come in TFDS's order; the stored `index` puts users back in the reader's order. Reads
  raw records in batches and parses the tf.Example protos directly, about 3x faster than the
  data source's per-record feature decoding (same result, checked in tests).
  """
  source = builder.as_data_source(
      split=_SPLIT, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
  meta = builder.info.metadata
  n = len(source)
  parts = [_parse_records(source.__getitems__(list(range(start, min(n, start + _READ_BATCH)))))
           for start in range(0, n, _READ_BATCH)]
  index = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
  users = [u for p in parts for u in p[1]]
  lengths = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
  flat = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, np.int64)
  del parts
  if n != meta["num_users"] or not np.array_equal(np.sort(index), np.arange(n)):
    raise ValueError(f"{builder.data_dir}: records do not hold users 0..{meta['num_users'] - 1} "
                     "exactly once; delete that directory and build again")
  order = np.argsort(index)
  # Reorder the CSR segments: new segment k is old segment order[k].
  starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
  new_lengths = lengths[order]
  offsets = np.concatenate([[0], np.cumsum(new_lengths)]).astype(np.int64)
  gather = np.repeat(starts[order] - offsets[:-1], new_lengths) + np.arange(offsets[-1])
  names = [users[i].decode("utf-8") for i in order]
  if meta["user_ids_are_integers"]:
    user_ids = np.fromiter(map(int, names), np.int64, len(names))
  else:
    user_ids = np.asarray(names, dtype=str)
  item_ids = meta["item_ids"]
  item_ids = np.asarray(item_ids, dtype=str if isinstance(item_ids[-1], str) else np.int64)
  return UserSequences(items=flat[gather].astype(np.int32), offsets=offsets,
                       num_items=int(meta["num_items"]), user_ids=user_ids, item_ids=item_ids,
                       report=dict(meta["report"]))


def _parse_records(raw: list[bytes]) -> tuple[np.ndarray, list[bytes], np.ndarray, np.ndarray]:
  """(index [n], user [n], item count [n], items [sum]) of serialized tf.Example records."""
  features = [tf_example_pb2.Example.FromString(r).features.feature for r in raw]
  index = np.fromiter((f["index"].int64_list.value[0] for f in features), np.int64, len(raw))
  users = [f["user"].bytes_list.value[0] for f in features]
  values = [f["items"].int64_list.value for f in features]
  lengths = np.fromiter(map(len, values), np.int64, len(raw))
  items = np.fromiter(itertools.chain.from_iterable(values), np.int64, int(lengths.sum()))
  return index, users, lengths, items


def decoded_records(builder: tfds.core.DatasetBuilder) -> list[dict[str, Any]]:
  """All records through TFDS's own feature decoding (slow; the reference in tests)."""
  source = builder.as_data_source(split=_SPLIT)
  return source.__getitems__(list(range(len(source))))
