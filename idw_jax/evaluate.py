"""A finished run scored on another interaction file, with its vocabulary, protocol and metrics.

  python -m idw_jax.evaluate --workdir=W --data=new.csv [--output=out.json]

  from idw_jax import evaluate
  out = evaluate.evaluate_run("workdirs/mine", "march.csv")
  out["test"]["sampled"]["overall"]["NDCG@20"], out["unknown"]

The file is read as the run read its own (data.source, data.delimiter, data.header,
data.columns; `data_overrides` or the flags change any of them; a synthetic run has no reader,
so the file's name picks one: .csv/.tsv delimited, .inter recbole, else user_item_timestamp).
Its items are mapped to the run's dense ids through the vocabulary the run keeps
(<workdir>/vocab.json, idw_jax/data/vocab.py): the new file never renumbers anything.

What is scored: every user of the file is a test user; nothing is held out for training. The
run's protocol (data.protocol.split) makes the test queries, as the driver's final test does:
"windows": each window's last item, predicted from the items before it in the window;
"leave_one_out": each user's last item (users of at least 3 events), from the items before it.
So the run's own data file gives exactly the run's test metrics (results.json "test"). The
item filter (protocol.min_count) and protocol.max_users are not applied: all events are read.
A window never reads more than the run's towers were built for (vocab.json max_len).

Items the run never saw are counted and reported, never dropped silently: a query whose target
is one is not scored; as history they are dropped from the query's window (the known items
close up, in order); a query left with no known history item is not scored. `unknown` says how
many of each. Sampled negatives: `data.protocol.num_negatives` per user of the file, drawn
with data.seed from the run's catalogue minus the user's known items, as the protocol draws
them. Head and tail items are the run's (its training-target counts,
<workdir>/embeddings/final.npz, and data.protocol.head_fraction).

Output (JSON): {"test": {"sampled", "full"[, "full_no_history"]}: each {"overall", "head",
"tail": {HR@K, NDCG@K, count}} as in results.json (None when no query is scored); "unknown":
{"items", "events": the file's items the run never saw and their events, "first_items": the
first 20 of them, "queries_target_unknown", "queries_without_known_history": test queries not
scored, "history_items_dropped": unknown items left out of the other queries' histories};
"queries": the protocol's counts ("test_queries", "scored", ...); "data": the reader's report;
the run, the file and the protocol}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np

from idw_jax import checkpoints
from idw_jax import config as config_lib
from idw_jax import run_state
from idw_jax import sharding
from idw_jax import train
from idw_jax.data import delimited, formats, protocol
from idw_jax.data import vocab as vocab_lib
from idw_jax.data.types import UserSequences

SHOWN_UNKNOWN = 20     # unknown ids listed in the output (all are counted)
_SOURCE_BY_SUFFIX = {".csv": "delimited", ".tsv": "delimited", ".tab": "delimited",
                     ".inter": "recbole"}


def evaluate_run(workdir, path, *, data_overrides: dict | None = None, echo=None) -> dict:
  """The run in `workdir` scored on the interaction file `path` (module docstring).
  data_overrides: {field of config.data: value}, e.g. {"source": "delimited",
  "columns.user": "uid"}."""
  echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))
  workdir, path = Path(workdir), Path(path).expanduser()
  meta, load = checkpoints.read_finished_run(workdir, "--workdir", lambda msg, **_: echo(msg))
  if meta["phase"] != run_state.DONE:
    echo(f"evaluate: {workdir} has not finished (phase {meta['phase']!r}); using the "
         "parameters of its latest checkpoint")
  cfg = ml_collections.ConfigDict(config_lib.backfill(meta["config"]))
  kept = _vocabulary(workdir, cfg, meta)
  counts, clusters = _training_counts(workdir, kept["num_items"])
  data_cfg = reader_config(cfg.data, path, data_overrides)
  seqs = formats.read(data_cfg.source, path, **delimited.options(data_cfg))
  dense, unknown = map_items(seqs, kept["dense_to_raw"])
  queries, known, query_report = scored_queries(seqs, dense, cfg.data.protocol,
                                                 kept["max_len"], kept["num_items"])
  unknown.update(query_report.pop("unknown"))
  splits = eval_splits(cfg, queries, known, counts, clusters)
  out = {"workdir": str(workdir.absolute()), "data_file": str(path.absolute()),
         "source": data_cfg.source, "method": cfg.method, "dataset": cfg.data.name,
         "protocol": cfg.data.protocol.to_dict(), "test": None, "unknown": unknown,
         "queries": query_report, "data": seqs.report}
  if queries.size == 0:
    echo(f"evaluate: no query of {path} can be scored (see 'unknown' and 'queries')")
    return out
  mesh = sharding.data_mesh()
  trainer = train.Trainer(_eval_config(cfg, sharding.num_devices(mesh)), splits, mesh=mesh)
  params = jax.tree.map(trainer._replicate, load(None)["params"])
  test = trainer.evaluate(params, "test")
  out["test"] = {k: test[k] for k in ("sampled", "full", "full_no_history") if k in test}
  return out


def reader_config(run_data, path: Path, overrides: dict | None):
  """The run's data section reading `path`: its reader settings, then `overrides`; a synthetic
  run's reader by the file's name."""
  data_cfg = ml_collections.ConfigDict(run_data.to_dict())
  data_cfg.path = str(path)
  if data_cfg.source == "synthetic":
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    data_cfg.source = _SOURCE_BY_SUFFIX.get(suffixes[-1] if suffixes else "",
                                            "user_item_timestamp")
  for field, value in (overrides or {}).items():
    config_lib.set_field(data_cfg, field, value)
  config_lib.specs()["data.source"].check("data.source", data_cfg.source)
  if data_cfg.source == "synthetic":
    raise ValueError("data.source: a file is read by a reader, not 'synthetic'; name one of "
                     f"{formats.FORMATS}")
  return data_cfg


def map_items(seqs: UserSequences, dense_to_raw: list) -> tuple[np.ndarray, dict]:
  """(run dense id of each event int32[E], 0 where the run never saw the item; the unknown
  items' counts). Raw ids match by their text, as the readers keep them (007 is not 7)."""
  raw_to_dense = {str(r): k for k, r in enumerate(dense_to_raw) if k > 0}
  file_ids = seqs.item_ids[1:] if seqs.item_ids is not None else np.arange(1, seqs.num_items + 1)
  table = np.zeros(seqs.num_items + 1, np.int32)
  table[1:] = [raw_to_dense.get(str(x), 0) for x in file_ids.tolist()]
  dense = table[seqs.items]
  missing = np.flatnonzero(table[1:] == 0)
  return dense, {"items": int(missing.size), "events": int((dense == 0).sum()),
                 "first_items": file_ids[missing[:SHOWN_UNKNOWN]].tolist()}


def _known_sequences(seqs: UserSequences, dense: np.ndarray, num_items: int) -> UserSequences:
  """The file's sequences in the run's dense ids, events of unknown items left out."""
  keep = dense > 0
  user = np.repeat(np.arange(seqs.num_users), seqs.lengths)
  lengths = np.bincount(user[keep], minlength=seqs.num_users)
  return UserSequences(items=dense[keep].astype(np.int32),
                       offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                       num_items=num_items, user_ids=seqs.user_ids)


def scored_queries(seqs: UserSequences, dense: np.ndarray, p, width: int,
                 num_items: int) -> tuple[protocol.Queries, UserSequences, dict]:
  """(the scored test queries of the file in the run's dense ids, the known sequences, counts
  of the protocol and of the unknown items it met). p: the run's data.protocol; width: the
  towers' window (vocab max_len); num_items: the run's catalogue."""
  known = _known_sequences(seqs, dense, num_items)
  if p.split == "leave_one_out":
    return _loo_queries(seqs, dense, known, width)
  mark = np.where(dense > 0, dense, -1)
  max_len = min(p.max_len, width)
  user, start, end, dropped = protocol.window_bounds(seqs.lengths, max_len, min(p.stride, max_len),
                                                     p.tail_window)
  n = (end - start).astype(np.int64)
  pos = np.arange(width)
  idx = seqs.offsets[user][:, None] + start[:, None] + pos[None, :]
  rows = np.where(pos[None, :] < n[:, None], mark[np.minimum(idx, max(mark.size - 1, 0))], 0)
  target = rows[np.arange(user.size), n - 1]
  history = (pos[None, :] < (n - 1)[:, None])
  known_hist = history & (rows > 0)
  h = known_hist.sum(1)
  order = np.argsort(~known_hist, axis=1, kind="stable")   # known history first, in order
  windows = np.where(pos[None, :] < h[:, None], np.take_along_axis(rows, order, 1), 0)
  windows[np.arange(user.size), np.minimum(h, width - 1)] = np.maximum(target, 0)
  target_known = target > 0
  scored = target_known & (h >= 1)
  queries = protocol.Queries(windows=windows[scored].astype(np.int32),
                             positions=(h[scored] - 1).astype(np.int32),
                             targets=target[scored].astype(np.int32),
                             user=user[scored].astype(np.int32))
  report = {"split": "windows", "max_len": int(max_len), "test_queries": int(user.size),
            "short_windows_dropped": dropped, "scored": int(scored.sum()),
            "unknown": {"queries_target_unknown": int((~target_known).sum()),
                        "queries_without_known_history": int((target_known & (h == 0)).sum()),
                        "history_items_dropped": int((history & (rows < 0))[target_known].sum())}}
  return queries, known, report


def _loo_queries(seqs, dense, known, width):
  """Leave-one-out's test queries: each user's last event when known, from the known items
  before it (the last width - 1 of them in the window; all of them excluded as history)."""
  n = seqs.lengths
  users = np.flatnonzero(n >= 3)
  last = dense[seqs.offsets[users] + n[users] - 1]
  target_known = last > 0
  hist_known = known.lengths[users] - target_known
  scored = users[target_known & (hist_known >= 1)]
  queries = protocol.loo_queries(known, scored, 1, width)
  report = {"split": "leave_one_out", "max_len": int(width), "test_queries": int(users.size),
            "users_not_evaluated": int(n.size - users.size), "scored": int(scored.size),
            "unknown": {"queries_target_unknown": int((~target_known).sum()),
                        "queries_without_known_history": int((target_known & (hist_known == 0))
                                                             .sum()),
                        "history_items_dropped": int((n[users] - 1 - hist_known)[target_known]
                                                     .sum())}}
  return queries, known, report


def eval_splits(cfg, queries: protocol.Queries, known: UserSequences, counts: np.ndarray,
                clusters: np.ndarray | None) -> protocol.Splits:
  """The Splits the Trainer evaluates: the queries as the test (and valid) split, the run's
  catalogue, head items and clusters, negatives drawn as `protocol` draws them."""
  p, num_items = cfg.data.protocol, counts.size - 1
  negatives = None
  if num_items > p.num_negatives + 1 and p.num_negatives > 0:
    probs = None
    if p.negative_sampler == "popularity":
      probs = np.bincount(known.items, minlength=num_items + 1).astype(np.float64)
    negatives = protocol.sample_negatives(known.offsets, known.items, num_items, p.num_negatives,
                                          probs, np.random.default_rng(cfg.data.seed))
  lengths = (queries.positions + 2).astype(np.int32)
  return protocol.Splits(
      windows=queries.windows, lengths=lengths, window_user=queries.user, num_items=num_items,
      train_counts=counts, negatives=negatives, is_head=protocol.head_items(counts,
                                                                           p.head_fraction),
      clusters=clusters, train_targets=p.train_targets, report={},
      is_head_cluster=None if clusters is None else protocol.head_clusters(
          counts, clusters, p.head_fraction),
      split=p.split, loo_queries={"valid": queries, "test": queries})


def _eval_config(cfg, devices: int):
  """The run's config for a Trainer that only evaluates: the smallest batch (one window a
  device: any data fits), nothing packed, the full loss (train.compact_targets is one device's)."""
  c = ml_collections.ConfigDict(cfg.to_dict())
  c.train.batch_size, c.train.pack_windows = devices, False
  if "compact_targets" in c.train:
    c.train.compact_targets = False
  return c


def _vocabulary(workdir: Path, cfg, meta: dict) -> dict:
  """The run's vocab.json; one a run made before runs kept one has rebuilt from its data."""
  kept = vocab_lib.read(workdir)
  if kept is None:
    from idw_jax import recommend
    kept = recommend._rebuilt_vocabulary(workdir, cfg, meta, None)
  return kept


def _training_counts(workdir: Path, num_items: int) -> tuple[np.ndarray, np.ndarray | None]:
  """(how often each item was a training target int64[N + 1], its cluster int32[N + 1] or
  None) of the finished run (<workdir>/embeddings/final.npz, written at its evaluation)."""
  path = workdir / "embeddings" / "final.npz"
  try:
    with np.load(path) as f:
      counts = np.concatenate([[0], f["train_counts"]]).astype(np.int64)
      clusters = (np.concatenate([[-1], f["clusters"]]).astype(np.int32)
                  if "clusters" in f else None)
  except (OSError, KeyError, ValueError) as e:
    raise ValueError(f"{path}: cannot read the run's training counts (head and tail items): "
                     f"{e}; is the run finished?") from None
  if counts.size != num_items + 1:
    raise ValueError(f"{path}: {counts.size - 1} items, the run's vocabulary {num_items}")
  return counts, clusters


def main(argv) -> int:
  """python -m idw_jax.evaluate (the flags in the module docstring and --help)."""
  from absl import flags
  from absl import logging
  f = flags.FLAGS
  if not f["verbosity"].present:
    logging.set_verbosity(logging.WARNING)   # Orbax logs every checkpoint it opens at INFO
  if len(argv) > 1:
    raise ValueError(f"unexpected argument(s) {argv[1:]}; the file is --data")
  overrides = {name: getattr(f, flag) for flag, name in _OVERRIDE_FLAGS.items()
               if getattr(f, flag) is not None}
  out = evaluate_run(f.workdir, f.data, data_overrides=overrides)
  text = json.dumps(out, indent=1, default=str) + "\n"
  if f.output == "-":
    sys.stdout.write(text)
  else:
    Path(f.output).write_text(text)
  u, q = out["unknown"], out["queries"]
  print(f"evaluate: {q['scored']} of {q['test_queries']} test queries scored; {u['items']} "
        f"unknown item(s) in {u['events']} event(s): {u['queries_target_unknown']} target(s) "
        f"not scored, {u['history_items_dropped']} dropped from histories, "
        f"{u['queries_without_known_history']} quer(ies) without a known history item",
        file=sys.stderr)
  for kind, block in (out["test"] or {}).items():
    if block is not None:
      said = ", ".join(f"{split} {block[split]['count']}: " + " ".join(
          f"{k} {v:.2f}" for k, v in block[split].items() if k != "count")
          for split in ("overall", "head", "tail"))
      print(f"evaluate: test, {kind} ranking (%): {said}", file=sys.stderr)
  return 0


_OVERRIDE_FLAGS = {"source": "source", "delimiter": "delimiter", "header": "header",
                   "user_column": "columns.user", "item_column": "columns.item",
                   "time_column": "columns.time"}


def define_flags():
  from absl import flags
  flags.DEFINE_string("workdir", None, "A finished run folder (launch.py --workdir).",
                      required=True)
  flags.DEFINE_string("data", None, "The interaction file to score the run on.", required=True)
  flags.DEFINE_string("output", "-", "Where the results JSON goes (- = stdout).")
  flags.DEFINE_enum("source", None, list(formats.FORMATS), "The file's reader (default: the "
                    "run's data.source).")
  flags.DEFINE_string("delimiter", None, "delimited: the separator (default: the run's).")
  flags.DEFINE_bool("header", None, "delimited: whether the first row names the columns "
                    "(default: the run's).")
  flags.DEFINE_string("user_column", None, "The user column (default: the run's "
                      "data.columns.user).")
  flags.DEFINE_string("item_column", None, "The item column (default: the run's).")
  flags.DEFINE_string("time_column", None, "The time column, or none (default: the run's).")


if __name__ == "__main__":
  from idw_jax import cli
  define_flags()
  cli.run(main)
