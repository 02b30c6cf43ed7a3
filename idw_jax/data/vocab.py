"""A run's vocabulary: raw item id <-> dense id, kept in the run's folder (<workdir>/vocab.json).

The dense ids a model is trained on follow from the data file (readers.py: the order of raw
ids; protocol.item_filter: the items kept), so a file edited after training (one id renamed)
gives other dense ids with the same counts. A run therefore writes its vocabulary when it
starts, before training, and `recommend`, `export` and later evaluations read it from there,
never from a data file that may have changed since. Runs made before keep none: they rebuild it
from the data (idw_jax/recommend.py says so on stderr).

The file: {"format", "version", "num_items": N, "max_len": the width of the protocol's windows
(the towers are built for it), "data_fingerprint": the data's (data/fingerprint.py; None for
synthetic data), "dense_to_raw": [null, raw id of dense 1, ..., raw id of dense N]}. Synthetic
data has no raw ids: its raw id k is dense id k.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE = "vocab.json"
FORMAT = "idw-jax-vocabulary"
VERSION = 1


def dense_to_raw(splits) -> list:
  """[None, raw id of dense 1, ..., raw id of dense N] of protocol splits (`Splits.item_ids`,
  the ids the item filter kept); k for dense id k when the data has no raw ids (synthetic)."""
  if splits.item_ids is None:
    return [None, *range(1, splits.num_items + 1)]
  return [None, *(x.item() if hasattr(x, "item") else x for x in splits.item_ids[1:])]


def write(workdir, splits, data_fingerprint: str | None) -> Path:
  """<workdir>/vocab.json of `splits`, replaced in one step (a reader never sees half a file)."""
  path = Path(workdir) / FILE
  body = {"format": FORMAT, "version": VERSION, "num_items": int(splits.num_items),
          "max_len": int(splits.max_len), "data_fingerprint": data_fingerprint,
          "dense_to_raw": dense_to_raw(splits)}
  tmp = path.with_name(f".{FILE}.tmp-{os.getpid()}")
  try:
    tmp.write_text(json.dumps(body))
    tmp.replace(path)
  finally:
    tmp.unlink(missing_ok=True)
  return path


def read(workdir) -> dict | None:
  """The vocabulary kept in a run folder (write's dict); None when it keeps none (a run made
  before runs kept one). A file that is not one is a one-line error naming it."""
  path = Path(workdir) / FILE
  if not path.is_file():
    return None
  try:
    body = json.loads(path.read_text(encoding="utf-8"))
    ok = (body.get("format") == FORMAT and body.get("version") == VERSION
          and len(body["dense_to_raw"]) == body["num_items"] + 1 and body["max_len"] >= 1)
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
    raise ValueError(f"{path}: cannot read the run's vocabulary ({type(e).__name__}: {e})") \
        from None
  if not ok:
    raise ValueError(f"{path}: not a {FORMAT} file of version {VERSION} with num_items + 1 ids")
  return body
