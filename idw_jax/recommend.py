"""Top-K recommendations from a trained run, with the interest that produced each item.

  python -m idw_jax.recommend --workdir=W --history="1193 661 914" -k 20
  python -m idw_jax.recommend --workdir=W --input=histories.txt > recs.jsonl

  from idw_jax import recommend
  recs = recommend.top_k("workdirs/ml1m/mur-paper-seed0", ["1193 661 914"], k=20)
  recs.rows()            # raw ids, scores, interest, attended history items

A history is the user's items as raw ids (as in the data file), oldest first. The run's
vocabulary (raw id -> dense id) is not stored in a run folder: it is rebuilt from the data file
the run's config names (the same reader and protocol, so the same dense ids; checked against
the checkpoint's catalogue size and the run's data summary). Ids not in it are reported (in the
output, and as a count on stderr by the CLI), never dropped silently.

The tower sees the history as evaluation feeds it: the last max_len - 1 known items in a window,
pooled at the position of the last one (`Trainer.user_reps`). Items are ranked by the run's
affinity (config.model.affinity, `idw_jax.affinity`) against the item embeddings evaluation
uses (`Trainer.item_embeddings`), exactly over the whole catalogue in blocks of items
(`idw_jax.export.blocked_top_k`; equal scores: the smaller dense id first). For M > 1 each item
names the interest m whose representation scores it highest and the history items that
interest's parametric attention weighs most (the pooling weights the tower sows,
`models.ParametricAttention`).

Flags:
  --workdir          a run folder (launch.py --workdir); required
  --history          one history, e.g. "1193 661 914" (printed as a table, --json: a JSON line)
  --input            a file with one history per line (JSON lines to --output); one of
                     --history and --input is required
  -k, --k            items per history (default 20)
  --output           where --input's JSON lines go (default -: stdout)
  --include_history  allow items of the history in the recommendations
  --json             --history: print a JSON line instead of the table
  --data_root        where the run's data file lies now, if not the run's data.root
  --block_items      items scored per block (default 4096; memory, not results)
  --debug            the full traceback of a user error instead of one line

The writer of export folders (`python -m idw_jax.export`) reads a run through `load_run` too;
its command is `export_main` here, so that idw_jax.export needs nothing but numpy and jax.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np

from idw_jax import affinity as affinity_lib
from idw_jax import checkpoints
from idw_jax import config as config_lib
from idw_jax import export
from idw_jax import models
from idw_jax import run_state
from idw_jax.data import pipeline
from idw_jax.data import protocol
from idw_jax.export import Recommendations, Recommender, Vocabulary, format_rows
from idw_jax.train import Trainer


def tower_fn(user: models.UserTower, user_params):
  """The user tower as serving runs it: (seq int32[B, W], at int32[B]) ->
  (z [B, M, d] = UserTower(seq, at=at), attention [B, M, W] of each interest: the pooling
  weights ParametricAttention sows, 0 beyond at), for every encoder and pooling."""
  def fn(seq, at):
    z, state = user.apply({"params": user_params}, seq, at=at, mutable=["intermediates"])
    return z, state["intermediates"]["interests"]["alpha"][0]
  return fn


def _vocabulary(seqs, min_count: int) -> Vocabulary:
  """Dense id -> raw id of the items as the run's protocol numbers them (its item filter)."""
  seqs, _ = protocol.item_filter(seqs, min_count)
  if seqs.item_ids is None:
    return Vocabulary.identity(seqs.num_items)
  return Vocabulary([None] + [x.item() if hasattr(x, "item") else x
                              for x in seqs.item_ids[1:]])


def load_run(workdir, data_root: str | None = None, echo=None) -> Recommender:
  """A Recommender from a run folder: the latest checkpoint's parameters (read only), the
  run's config, the towers and item embeddings of `Trainer`, and the vocabulary rebuilt from
  the data file (`data_root` overrides the run's data.root)."""
  echo = echo or (lambda msg: print(msg, file=sys.stderr))
  workdir = Path(workdir)
  meta, load = checkpoints.read_finished_run(workdir, "--workdir")
  if meta["phase"] != run_state.DONE:
    echo(f"recommend: {workdir} has not finished (phase {meta['phase']!r}); using the "
         "parameters of its latest checkpoint")
  cfg = ml_collections.ConfigDict(config_lib.backfill(meta["config"]))
  if data_root is not None:
    cfg.data.root = data_root
  seqs = pipeline.load_sequences(cfg.data, tfds_dir=None)   # the raw file, nothing written
  data_cfg = ml_collections.ConfigDict(cfg.data.to_dict())
  data_cfg.protocol.num_negatives = 0                       # not needed to serve
  splits = pipeline.make_splits(data_cfg, seqs)
  vocab = _vocabulary(seqs, cfg.data.protocol.min_count)
  summary = _results_data(workdir)
  if summary and (summary.get("items"), summary.get("interactions")) != (
      seqs.num_items, seqs.num_interactions):
    raise ValueError(f"{workdir}: the run was trained on {summary.get('items')} items and "
                     f"{summary.get('interactions')} interactions, the data file now holds "
                     f"{seqs.num_items} and {seqs.num_interactions}: its vocabulary would differ")
  trainer = Trainer(cfg, splits)
  params = load(None)["params"]            # no template: the arrays as stored
  want = jax.eval_shape(lambda: models.init_params(jax.random.key(0), trainer.user, trainer.item))
  if jax.tree.map(lambda x: tuple(x.shape), want) != jax.tree.map(lambda x: tuple(x.shape), params):
    raise ValueError(f"{workdir}: the checkpoint's parameters do not fit the towers built from "
                     f"the data ({splits.num_items} items, max_len {splits.max_len})")
  items = np.asarray(trainer.item_embeddings(params, training=False))
  m = cfg.model
  facts = {"method": cfg.method, "dataset": cfg.data.name, "affinity": m.affinity,
           "temperature": m.temperature, "num_interests": m.num_interests,
           "embed_dim": int(items.shape[1]), "max_len": splits.max_len,
           "window": splits.max_len - 1, "num_items": splits.num_items,
           "item_norm": m.item_norm, "source_workdir": str(workdir.absolute()),
           "checkpoint_phase": meta["phase"]}
  return Recommender(tower=tower_fn(trainer.user, params["user"]),
                     score=functools.partial(affinity_lib.affinity, kind=m.affinity),
                     items=items, vocab=vocab, facts=facts)


def _results_data(workdir: Path) -> dict | None:
  """The data summary in results.json (items, interactions), when the run wrote one."""
  path = workdir / "results.json"
  if not path.is_file():
    return None
  return json.loads(path.read_text()).get("data")


def top_k(run, histories, k: int = 20, *, exclude_history: bool = True,
          block_items: int = 4096, block_users: int = 256) -> Recommendations:
  """Top-k items of each history, exact over the full catalogue (blocked over items).

  run: a workdir (loaded with `load_run`) or a Recommender (`load_run`, `idw_jax.export.load`);
  histories: a string of raw ids or a list of them (each a string or a sequence of raw ids).
  exclude_history: the history's items are not recommended. Equal scores: smaller dense id
  first. Returns `idw_jax.export.Recommendations` (arrays; `.rows()` for raw ids).
  """
  rec = run if isinstance(run, Recommender) else load_run(run)
  return rec.top_k(histories, k, exclude_history=exclude_history, block_items=block_items,
                   block_users=block_users)


def main(argv) -> int:
  """python -m idw_jax.recommend (the flags in the module docstring)."""
  from absl import flags
  f = flags.FLAGS
  if len(argv) > 1:
    raise ValueError(f"unexpected argument(s) {argv[1:]}; histories go in --history or --input")
  rec = load_run(f.workdir, data_root=f.data_root)
  histories = [f.history] if f.history is not None else Path(f.input).read_text().splitlines()
  rows = rec.top_k(histories, f.k, exclude_history=not f.include_history,
                   block_items=f.block_items).rows()
  unknown = sum(len(r["unknown"]) for r in rows)
  if unknown:
    print(f"recommend: {unknown} unknown id(s) in {sum(bool(r['unknown']) for r in rows)} "
          f"of {len(rows)} histor{'y' if len(rows) == 1 else 'ies'} (not in the run's "
          "vocabulary; listed in the output, not scored)", file=sys.stderr)
  empty = sum("error" in r for r in rows)
  if empty:
    print(f"recommend: {empty} histor{'y' if empty == 1 else 'ies'} without a known item: no "
          "recommendation", file=sys.stderr)
  if f.input is None and not f.json:
    print(format_rows(rows))
    return 0
  text = "".join(json.dumps({"line": i + 1, **r} if f.input else r) + "\n"
                 for i, r in enumerate(rows))
  if f.output == "-":
    sys.stdout.write(text)
  else:
    Path(f.output).write_text(text)
  return 0


def define_flags():
  from absl import flags
  flags.DEFINE_string("workdir", None, "A run folder (launch.py --workdir).", required=True)
  flags.DEFINE_string("history", None, 'One history of raw item ids, oldest first, e.g. '
                      '"1193 661 914".')
  flags.DEFINE_string("input", None, "A file with one history per line; writes JSON lines.")
  flags.mark_flags_as_mutual_exclusive(["history", "input"], required=True)
  flags.DEFINE_integer("k", 20, "Items per history.", lower_bound=1)
  flags.DEFINE_string("output", "-", "Where --input's JSON lines go (- = stdout).")
  flags.DEFINE_bool("include_history", False, "Allow items of the history in the "
                    "recommendations.")
  flags.DEFINE_bool("json", False, "--history: print a JSON line instead of the table.")
  flags.DEFINE_string("data_root", None, "Where the run's data file lies now, if not the run's "
                      "data.root.")
  flags.DEFINE_integer("block_items", 4096, "Items scored per block (memory, not results).",
                       lower_bound=1)


def export_main(argv) -> int:
  """python -m idw_jax.export (the flags in idw_jax.export's docstring): writes the export
  folder of a finished run."""
  from absl import flags
  f = flags.FLAGS
  if len(argv) > 1:
    raise ValueError(f"unexpected argument(s) {argv[1:]}; the run is --workdir, the folder --out")
  platforms = [x.strip().lower() for x in f.platforms.split(",") if x.strip()]
  unknown = [x for x in platforms if x not in export.PLATFORMS]
  if unknown or not platforms:
    raise ValueError(f"--platforms: {','.join(unknown) or repr(f.platforms)} is not one of "
                     f"{', '.join(export.PLATFORMS)}")
  rec = load_run(f.workdir, data_root=f.data_root)
  facts = export.write(rec, f.out, platforms)
  print(f"exported {f.workdir} -> {f.out}: {facts['num_items']} items, "
        f"M={facts['num_interests']}, d={facts['embed_dim']}, window {facts['window']}, "
        f"affinity {facts['affinity']}, platforms {','.join(facts['platforms'])}")
  return 0


def define_export_flags():
  from absl import flags
  flags.DEFINE_string("workdir", None, "A finished run folder (launch.py --workdir).",
                      required=True)
  flags.DEFINE_string("out", None, "The export folder to write.", required=True)
  flags.DEFINE_string("data_root", None, "Where the run's data file lies now (its vocabulary is "
                      "rebuilt from it), if not the run's data.root.")
  flags.DEFINE_string("platforms", "cpu,cuda", "Platforms to lower the artifacts for "
                      f"(comma-separated, of {','.join(export.PLATFORMS)}).")


if __name__ == "__main__":
  from idw_jax import cli
  define_flags()
  cli.run(main)
