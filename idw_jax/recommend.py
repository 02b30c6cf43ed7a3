"""Top-K recommendations from a trained run, with the interest that produced each item.

  python -m idw_jax.recommend --workdir=W --history="1193 661 914" -k 20
  python -m idw_jax.recommend --workdir=W --input=histories.txt > recs.jsonl

  from idw_jax import recommend
  recs = recommend.top_k("workdirs/ml1m/mur-paper-seed0", ["1193 661 914"], k=20)
  recs.rows()            # raw ids, scores, interest, attended history items

A history is the user's items as raw ids (as in the data file), oldest first. The run's
vocabulary (raw id -> dense id) is the one it keeps in its folder (<workdir>/vocab.json, written
when it started: idw_jax/data/vocab.py), never rebuilt from a data file that may have changed
since. A run made before runs kept one has it rebuilt from the data file its config names (the
same reader and protocol, so the same dense ids), checked against the run's data fingerprint
(idw_jax/data/fingerprint.py) or, for a run without one, its counts; one line on stderr says
so. Ids not in it are reported (in the output, and as a count on stderr by the CLI), never
dropped silently. The checkpoint is read as launch.py resumes: a damaged one is set aside with
one line and the previous one read.

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
  --data_root        a run without vocab.json: where its data file lies now (see --help)
  --block_items      items scored per block (default 4096; memory, not results)
  --debug            the full traceback of a user error instead of one line

The writer of export folders (`python -m idw_jax.export`) reads a run through `load_run` too;
its command is `export_main` here, so that idw_jax.export needs nothing but numpy and jax.
"""

from __future__ import annotations

import functools
import json
import sys
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from idw_jax import affinity as affinity_lib
from idw_jax import checkpoints
from idw_jax import config as config_lib
from idw_jax import export
from idw_jax import models
from idw_jax import run_state
from idw_jax import train
from idw_jax.data import fingerprint
from idw_jax.data import pipeline
from idw_jax.data import vocab as vocab_lib
from idw_jax.export import Recommendations, Recommender, Vocabulary, format_rows


def tower_fn(user: models.UserTower, user_params):
  """The user tower as serving runs it: (seq int32[B, W], at int32[B]) ->
  (z [B, M, d] = UserTower(seq, at=at), attention [B, M, W] of each interest: the pooling
  weights ParametricAttention sows, 0 beyond at), for every encoder and pooling."""
  def fn(seq, at):
    z, state = user.apply({"params": user_params}, seq, at=at, mutable=["intermediates"])
    return z, state["intermediates"]["interests"]["alpha"][0]
  return fn


def load_run(workdir, data_root: str | None = None, echo=None,
             prog: str = "recommend") -> Recommender:
  """A Recommender from a run folder: the newest readable checkpoint's parameters (read only,
  as launch.py resumes: a damaged one is set aside), the run's config and the vocabulary it
  keeps (<workdir>/vocab.json), so that nothing is read from a data file that may have changed
  since. A run made before runs kept one has it rebuilt from its data file (`data_root`: where
  that lies now), checked against the run's data fingerprint, else its counts; one line on
  stderr says so. prog names the command in those lines."""
  echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))
  workdir = Path(workdir)
  meta, load = checkpoints.read_finished_run(workdir, "--workdir", lambda msg, **_: echo(msg))
  if meta["phase"] != run_state.DONE:
    echo(f"{prog}: {workdir} has not finished (phase {meta['phase']!r}); using the "
         "parameters of its latest checkpoint")
  cfg = ml_collections.ConfigDict(config_lib.backfill(meta["config"]))
  kept = vocab_lib.read(workdir)
  if kept is None:
    kept = _rebuilt_vocabulary(workdir, cfg, meta, data_root)
    echo(f"{prog}: {workdir} keeps no vocabulary ({vocab_lib.FILE}: a run made before runs "
         f"kept one); rebuilt it from {kept['source']}")
  spec, params, items = _towers(workdir, cfg, kept, load(None)["params"])
  m, max_len = cfg.model, kept["max_len"]
  facts = {"method": cfg.method, "dataset": cfg.data.name, "affinity": m.affinity,
           "temperature": m.temperature, "num_interests": m.num_interests,
           "embed_dim": int(items.shape[1]), "max_len": max_len, "window": max_len - 1,
           "num_items": kept["num_items"], "item_norm": m.item_norm,
           "source_workdir": str(workdir.absolute()), "checkpoint_phase": meta["phase"],
           "data_fingerprint": _fingerprint(workdir, meta)}
  return Recommender(tower=tower_fn(spec.user, params["user"]),
                     score=functools.partial(affinity_lib.affinity, kind=m.affinity),
                     items=items, vocab=Vocabulary(kept["dense_to_raw"]), facts=facts)


def _towers(workdir: Path, cfg, kept: dict, params):
  """(train.StepSpec with the towers training built for the vocabulary's N items and
  max_len, the checkpoint's parameters (checked to fit them), item embeddings float32[N + 1, d]
  as evaluation ranks them)."""
  n, max_len = kept["num_items"], kept["max_len"]
  shape = types.SimpleNamespace(num_items=n, max_len=max_len,
                                train_targets=cfg.data.protocol.train_targets,
                                held_out=0 if cfg.data.protocol.split == "leave_one_out" else 2)
  spec = train.StepSpec.from_config(cfg, shape, None)
  want = jax.eval_shape(lambda: models.init_params(jax.random.key(0), spec.user, spec.item))
  if jax.tree.map(lambda x: tuple(x.shape), want) != jax.tree.map(lambda x: tuple(x.shape), params):
    raise ValueError(f"{workdir}: the checkpoint's parameters do not fit the towers of its "
                     f"vocabulary ({kept.get('source', vocab_lib.FILE)}: {n} items, max_len "
                     f"{max_len})")
  ids = jnp.arange(n + 1, dtype=jnp.int32)
  items = jax.jit(lambda p: train.item_embed(spec, p, ids, False))(params["item"])
  return spec, params, np.asarray(items)


def data_config(data_cfg, data_root: str | None):
  """The run's data section, its file looked for under `data_root` when given (a data folder
  that moved): a relative data.path under data_root instead of data.root; an absolute one by
  its part under the run's data.root (its file name when it lay elsewhere) under data_root."""
  out = ml_collections.ConfigDict(data_cfg.to_dict())
  if data_root is None:
    return out
  path, root = Path(data_cfg.path).expanduser(), Path(data_cfg.root).expanduser()
  if path.is_absolute():
    out.path = str(path.relative_to(root) if path.is_relative_to(root) else path.name)
  out.root = data_root
  return out


def _rebuilt_vocabulary(workdir: Path, cfg, meta: dict, data_root: str | None) -> dict:
  """The vocabulary of a run that keeps none, rebuilt from its data file (the same reader and
  protocol, so the same dense ids while the file is the same): the file's fingerprint must be
  the run's where the run has one, else its counts those of results.json and the checkpoint."""
  data_cfg = data_config(cfg.data, data_root)
  line = fingerprint.mismatch(f"the run in {workdir}", _fingerprint(workdir, meta),
                              fingerprint.of_data(data_cfg))
  if line:
    raise ValueError(f"{line}; its vocabulary cannot be rebuilt from this file")
  seqs = pipeline.load_sequences(data_cfg, tfds_dir=None)   # the raw file, nothing written
  data_cfg.protocol.num_negatives = 0                       # not needed to serve
  splits = pipeline.make_splits(data_cfg, seqs)
  if _fingerprint(workdir, meta) is None:   # counts: the file's (results.json), the protocol's
    summary = _results(workdir).get("data") or {}                             # (checkpoint)
    for stored, now in (({k: summary[k] for k in ("items", "interactions") if k in summary},
                         {"items": seqs.num_items, "interactions": seqs.num_interactions}),
                        (meta.get("data") or {}, checkpoints.data_size(splits))):
      now = {k: now.get(k) for k in stored}
      if stored != now:
        raise ValueError(f"{workdir}: the run was trained on other data than the file now "
                         f"holds ({checkpoints.data_change(stored, now)}): its vocabulary "
                         "would differ")
  source = ("the synthetic generator" if data_cfg.source == "synthetic"
            else str(pipeline.resolve_path(data_cfg)))
  return {"num_items": splits.num_items, "max_len": splits.max_len,
          "dense_to_raw": vocab_lib.dense_to_raw(splits), "source": source}


def _fingerprint(workdir: Path, meta: dict) -> str | None:
  """The run's data fingerprint: its checkpoint's, else its results.json's (None: synthetic
  data, or a run from before fingerprints)."""
  return meta.get("data_fingerprint") or _results(workdir).get("data_fingerprint")


def _results(workdir: Path) -> dict:
  """results.json of the run ({} when it has not finished)."""
  path = workdir / "results.json"
  return json.loads(path.read_text()) if path.is_file() else {}


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
  histories = ([f.history] if f.history is not None   # utf-8-sig: a BOM is not part of an id
               else Path(f.input).read_text(encoding="utf-8-sig").splitlines())
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


DATA_ROOT_HELP = ("Only for a run that keeps no vocab.json (made before runs kept one), whose "
                  "vocabulary is rebuilt from its data file: the folder that file lies in now. A "
                  "relative data.path is read under it instead of data.root; an absolute one by "
                  "its part under the run's data.root (its file name when it lay elsewhere).")


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
  flags.DEFINE_string("data_root", None, DATA_ROOT_HELP)
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
  export.check_out(f.out, f.force)         # before the run is read: a refusal is quick
  rec = load_run(f.workdir, data_root=f.data_root, prog="export")
  facts = export.write(rec, f.out, platforms, force=f.force)
  print(f"exported {f.workdir} -> {f.out}: {facts['num_items']} items, "
        f"M={facts['num_interests']}, d={facts['embed_dim']}, window {facts['window']}, "
        f"affinity {facts['affinity']}, platforms {','.join(facts['platforms'])}; it loads "
        f"with jax, numpy and flatbuffers alone: {Path(f.out) / export.FILES['readme']}")
  return 0


def define_export_flags():
  from absl import flags
  flags.DEFINE_string("workdir", None, "A finished run folder (launch.py --workdir).",
                      required=True)
  flags.DEFINE_string("out", None, "The export folder to write.", required=True)
  flags.DEFINE_string("data_root", None, DATA_ROOT_HELP)
  flags.DEFINE_bool("force", False, "Replace --out when it already holds files (an earlier "
                    "export); without it that is an error and --out stays as it is.")
  flags.DEFINE_string("platforms", "cpu,cuda", "Platforms to lower the artifacts for "
                      f"(comma-separated, of {','.join(export.PLATFORMS)}).")


if __name__ == "__main__":
  from idw_jax import cli
  define_flags()
  cli.run(main)
