"""Serving a trained model without the training code: the export folder, its loader, top-K.

  python -m idw_jax.export --workdir=W --out=DIR       # write DIR from a finished run
  rec = idw_jax.export.load(DIR)                       # or, without idw_jax: DIR/README.txt
  rec.user_reps(["1193 661 914"]); rec.top_k(["1193 661 914"], k=20).rows()

Flags of the writer (`python -m idw_jax.export`):
  --workdir    a finished run folder (launch.py --workdir); required
  --out        the export folder to write; required
  --data_root  a run without vocab.json (made before runs kept one): where its data file lies
               now (its vocabulary is rebuilt from it; see --help)
  --platforms  platforms to lower the artifacts for, comma-separated (default cpu,cuda)
  --force      replace --out when it already holds files (without it, an error)
  --debug      the full traceback of a user error instead of one line

This module imports only numpy and jax (and flatbuffers through jax.export), nothing of
idw_jax: the writer copies it into the folder as idw_export.py, byte for byte (one source, no
second loader to keep in step), so the folder loads where only jax, numpy and flatbuffers are
installed (`import idw_export; idw_export.load(DIR)`, README.txt). The writer reads the run with
the training code: its command is `idw_jax.recommend.export_main`, which the `__main__` block
below hands over to.
`Recommender` is shared: `idw_jax.recommend` builds one from a run's checkpoint and in-process
towers, `load` builds one from an export folder, and both rank with the same blocked top-K.

The folder:
  items.npy        float32[N + 1, d] item embeddings as evaluation uses them (row 0: padding)
  vocab.json       {"dense_to_raw": [null, raw id of dense 1, ...], "raw_to_dense": {str(raw): k}}
  model.json       facts: affinity, temperature, M, d, max_len, window, N, platforms, ...
  user_tower.jax   jax.export of (seq int32[b, W], at int32[b]) -> (z float32[b, M, d],
                   attention float32[b, M, W]); W = max_len - 1, the window evaluation feeds the
                   tower; b symbolic; the parameters are constants inside
  affinity.jax     jax.export of (z float32[b, M, d], v float32[c, d]) -> s float32[b, c], the
                   run's affinity (mixture or max, idw_jax/affinity.py); b and c symbolic
  idw_export.py    this module (its loader, `load`), for loading without idw_jax
  README.txt       how to load the folder (a few lines)

Ranking (`blocked_top_k`): exact over all N items, in blocks of items (a running top-K merged
with each block's scores, so memory is O(users x block), never users x N). Ties are broken by
the smaller dense item id: blocks run in ascending id order, the running list precedes the
block in each merge and `lax.top_k` puts the lower index first among equal values.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

FORMAT = "idw-jax-export"
PLATFORMS = ("cpu", "cuda", "rocm", "tpu")   # what jax.export lowers for
VERSION = 1
FILES = {"items": "items.npy", "vocab": "vocab.json", "model": "model.json",
         "user_tower": "user_tower.jax", "affinity": "affinity.jax", "loader": "idw_export.py",
         "readme": "README.txt"}
TIE_RULE = "equal scores: the smaller dense item id first"

Tower = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]
Score = Callable[[jax.Array, jax.Array], jax.Array]


# ------------------------------------------------------------------------------- vocabulary
class Vocabulary:
  """Raw item id <-> dense id (1..N; 0 is padding). Raw ids are compared as text: `str(raw)`,
  which is the id as written in the data file (the readers keep an id as an integer only when
  that is lossless, `idw_jax/data/readers.py`)."""

  def __init__(self, dense_to_raw: Sequence):
    self.dense_to_raw = list(dense_to_raw)          # index = dense id, [0] = None
    self.raw_to_dense = {str(r): k for k, r in enumerate(self.dense_to_raw) if k > 0}

  @classmethod
  def identity(cls, num_items: int) -> "Vocabulary":
    """Data without raw ids (the synthetic generator): raw id k is dense id k."""
    return cls([None] + list(range(1, num_items + 1)))

  @property
  def num_items(self) -> int:
    return len(self.dense_to_raw) - 1

  def to_json(self) -> dict:
    return {"dense_to_raw": self.dense_to_raw, "raw_to_dense": self.raw_to_dense}


def _tokens(history) -> list[str]:
  """A history as raw-id tokens: a string "1193 661 914" (whitespace or commas) or a sequence."""
  if isinstance(history, str):
    return [t for t in re.split(r"[\s,]+", history.strip()) if t]
  return [str(t) for t in history]


def _is_id(x) -> bool:
  """A single raw id that is not text: an integer (Python or numpy)."""
  return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def histories_of(histories) -> list:
  """top_k's and user_reps' argument as a list of histories: a string is one history; a
  sequence (list, tuple, numpy array) of integer ids is one history; any other sequence (of
  strings, or of sequences of ids; a 2-D array: its rows) is one history per element."""
  if isinstance(histories, str):
    return [histories]
  if isinstance(histories, np.ndarray):
    if histories.ndim > 2:
      raise ValueError(f"histories: a numpy array of 1 or 2 dimensions, got shape "
                       f"{histories.shape}")
    return [histories.tolist()] if histories.ndim == 1 and histories.dtype.kind in "iu" else (
        [h.tolist() if isinstance(h, np.ndarray) else h for h in np.atleast_1d(histories)])
  try:
    out = list(histories)
  except TypeError:
    raise ValueError(f"histories: a string of raw ids or a sequence, got "
                     f"{type(histories).__name__}") from None
  if out and all(_is_id(x) for x in out):
    return [out]
  bad = [i for i, h in enumerate(out) if not isinstance(h, (str, np.ndarray, Sequence))]
  if bad:
    raise ValueError(f"histories[{bad[0]}]: {out[bad[0]]!r} is not a history (a string of raw "
                     "ids, or a sequence of them)")
  return out


@dataclasses.dataclass
class Encoded:
  """Histories in the tower's input layout.

  seq int32[B, W]: the most recent W known items of each history, right-padded with 0;
  at int32[B]: the position of the last one (the prefix evaluation pools); known: dense ids of
  every known item (all of them are excluded from the recommendations); unknown: raw tokens
  not in the vocabulary (reported, not scored); truncated: known items older than the window.
  """

  tokens: list[list[str]]
  seq: np.ndarray
  at: np.ndarray
  known: list[np.ndarray]
  unknown: list[list[str]]
  truncated: np.ndarray

  @property
  def empty(self) -> np.ndarray:
    """bool[B]: histories with no known item (no representation, no recommendation)."""
    return np.array([k.size == 0 for k in self.known], bool)


# ------------------------------------------------------------------------------- ranking
def _top_k_scan(z, item_blocks, exclude, num_items, *, k: int, score: Score):
  """Exact top-k of z[b, M, d] over item_blocks[nb, c, d] (dense ids 1.. in order, padded).

  exclude int32[b, H]: dense ids never returned (0 = none). Returns (scores float32[b, k],
  dense ids int32[b, k]); a slot with no item (fewer than k eligible) has -inf and id 0.
  """
  b = z.shape[0]
  nb, c, _ = item_blocks.shape
  col = jnp.arange(c, dtype=jnp.int32)
  rows = jnp.arange(b)[:, None]

  def body(carry, xs):
    best_s, best_i = carry
    v, start = xs                                     # dense ids start + 1 .. start + c
    s = score(z, v).astype(jnp.float32)               # [b, c]
    ids = start + 1 + col
    s = jnp.where((ids <= num_items)[None, :] & ~jnp.isnan(s), s, -jnp.inf)
    local = exclude - 1 - start                       # out of this block -> c (dropped)
    local = jnp.where((local >= 0) & (local < c), local, c)
    s = s.at[rows, local].set(-jnp.inf, mode="drop")
    # Running list first: among equal scores lax.top_k keeps the lower index, i.e. the
    # smaller id (earlier blocks hold smaller ids, and each list is in id order on ties).
    cat_s = jnp.concatenate([best_s, s], axis=1)
    cat_i = jnp.concatenate([best_i, jnp.broadcast_to(ids, (b, c))], axis=1)
    top_s, pos = jax.lax.top_k(cat_s, k)
    return (top_s, jnp.take_along_axis(cat_i, pos, axis=1)), None

  init = (jnp.full((b, k), -jnp.inf, jnp.float32), jnp.zeros((b, k), jnp.int32))
  starts = jnp.arange(nb, dtype=jnp.int32) * c
  (s, i), _ = jax.lax.scan(body, init, (item_blocks, starts))
  return s, jnp.where(s == -jnp.inf, 0, i)


def item_blocks(items: np.ndarray, block: int) -> np.ndarray:
  """items[N + 1, d] (row 0 padding) -> [nb, c, d]: rows 1..N in nb blocks of c <= block,
  the last one zero-padded (sized to waste little padding, as `metrics.full_corpus_ranks`)."""
  n = items.shape[0] - 1
  nb = -(-n // max(1, min(int(block), n)))
  c = -(-n // nb)
  return np.pad(items[1:], ((0, nb * c - n), (0, 0))).reshape(nb, c, -1)


def _bucket(n: int, block: int) -> int:
  """Rows per call: block, or the next power of two >= n when fewer (few compiled shapes)."""
  return min(int(block), 1 << max(0, (n - 1).bit_length()))


def make_ranker(score: Score):
  """The jitted blocked top-k scan of `score`; pass it to `blocked_top_k(..., ranker=)` to
  compile once for many calls."""
  return jax.jit(functools.partial(_top_k_scan, score=score), static_argnames=("k",))


def blocked_top_k(z, items, k: int, score: Score, *, exclude=None, block_items: int = 4096,
                  block_users: int = 256, ranker=None) -> tuple[np.ndarray, np.ndarray]:
  """Exact top-k items of each user over the whole catalogue, blocked on both axes.

  Args:
    z: [B, M, d] user representations.
    items: [N + 1, d] item embeddings, row 0 padding (never returned).
    k: items per user (at most N).
    score: affinity (z[b, M, d], v[c, d]) -> [b, c], e.g. `idw_jax.affinity.affinity`.
    exclude: optional int[B, H] dense ids not to return per user (0 = none).
    block_items, block_users: tile sizes; memory O(block_users x block_items x M).
    ranker: `make_ranker(score)`, reused across calls (default: a new one, compiled per call).

  Returns:
    (scores float32[B, k], dense ids int32[B, k]), best first; equal scores: smaller id first;
    slots beyond the eligible items: -inf and id 0.
  """
  z = np.asarray(z, np.float32)
  items = np.asarray(items, np.float32)
  n, bsz = items.shape[0] - 1, z.shape[0]
  if not 1 <= k <= n:
    raise ValueError(f"top_k: k must be in 1..{n} (the catalogue), got {k}")
  exclude = (np.zeros((bsz, 1), np.int32) if exclude is None
             else np.asarray(exclude, np.int32).reshape(bsz, -1))
  blocks = jnp.asarray(item_blocks(items, block_items))
  fn = ranker or make_ranker(score)
  rows = _bucket(bsz, block_users)
  out_s, out_i = np.empty((bsz, k), np.float32), np.empty((bsz, k), np.int32)
  for lo in range(0, bsz, rows):
    zb, eb = z[lo:lo + rows], exclude[lo:lo + rows]
    pad = rows - zb.shape[0]
    s, i = fn(np.pad(zb, ((0, pad), (0, 0), (0, 0))), blocks, np.pad(eb, ((0, pad), (0, 0))),
              np.int32(n), k=k)
    out_s[lo:lo + rows] = np.asarray(s)[:rows - pad]
    out_i[lo:lo + rows] = np.asarray(i)[:rows - pad]
  return out_s, out_i


# ------------------------------------------------------------------------------- results
@dataclasses.dataclass
class Recommendations:
  """top_k's answer for B histories (arrays for analysis, `rows()` for display / JSON).

  items int32[B, K] dense ids (0: no item: the history had no known item, or fewer than K
  items were eligible); scores float32[B, K] (the run's affinity; -inf where items is 0);
  interest int32[B, K]: argmax_m z_m . v of each item (-1 where no item); attention
  float32[B, M, W]: each interest's parametric-attention weights over the history window.
  """

  encoded: Encoded
  items: np.ndarray
  scores: np.ndarray
  interest: np.ndarray
  attention: np.ndarray
  vocab: Vocabulary
  num_interests: int

  def rows(self, attends: int = 3) -> list[dict]:
    """One JSON-ready dict per history: the items (raw ids) with score and, for M > 1, the
    interest and the `attends` history items its attention weighs most (ties: earlier)."""
    enc, out = self.encoded, []
    raw = self.vocab.dense_to_raw
    for b in range(len(enc.tokens)):
      row = {"history": enc.tokens[b], "unknown": enc.unknown[b],
             "truncated": int(enc.truncated[b]), "items": []}
      if enc.empty[b]:
        row["error"] = "no known item in the history"
      window = enc.seq[b, :enc.at[b] + 1]
      for r in np.flatnonzero(self.items[b]):
        entry = {"rank": int(r) + 1, "item": raw[self.items[b, r]],
                 "score": float(self.scores[b, r])}
        if self.num_interests > 1:
          m = int(self.interest[b, r])
          w = self.attention[b, m, :window.size]
          top = np.argsort(-w, kind="stable")[:attends]
          entry["interest"] = m
          entry["attends_to"] = [{"item": raw[window[p]], "position": int(p),
                                  "weight": float(w[p])} for p in top]
        row["items"].append(entry)
      out.append(row)
    return out


def format_rows(rows: list[dict]) -> str:
  """The text table the recommend CLI prints: rank, item, score (and interest, attends to)."""
  lines = []
  for row in rows:
    lines.append(f"history: {' '.join(row['history'])} ({len(row['history']) - len(row['unknown'])}"
                 f" known, {len(row['unknown'])} unknown"
                 + (f", {row['truncated']} older than the window" if row["truncated"] else "")
                 + ")")
    if row["unknown"]:
      lines.append(f"unknown ids (not in the run's vocabulary, not scored): "
                   f"{' '.join(row['unknown'])}")
    if "error" in row:
      lines.append(f"no recommendation: {row['error']}")
      continue
    mur = any("interest" in e for e in row["items"])
    lines.append(f"{'rank':>4}  {'item':>10}  {'score':>9}" +
                 (f"  {'interest':>8}  attends to (weight)" if mur else ""))
    for e in row["items"]:
      line = f"{e['rank']:>4}  {str(e['item']):>10}  {e['score']:>9.4f}"
      if mur:
        att = ", ".join(f"{a['item']} ({a['weight']:.2f})" for a in e["attends_to"])
        line += f"  {e['interest']:>8}  {att}"
      lines.append(line)
  return "\n".join(lines)


# ------------------------------------------------------------------------------- recommender
def _ints(name: str, x, ndim: int) -> np.ndarray:
  """x as an int32 array of `ndim` dimensions, or a ValueError naming it."""
  a = np.asarray(x)
  if a.ndim != ndim or not (a.dtype.kind in "iu" or a.size == 0):
    raise ValueError(f"tower: {name} must be an integer array of {ndim} dimension(s), got "
                     f"{a.dtype} of shape {a.shape}")
  return a


def _within(name: str, a: np.ndarray, lo: int, hi: int, what: str):
  """A ValueError naming the first entry of `a` outside lo..hi."""
  bad = np.argwhere((a < lo) | (a > hi))
  if bad.size:
    where = tuple(int(i) for i in bad[0])
    raise ValueError(f"tower: {name}{list(where)} = {a[where]} is not {what} in {lo}..{hi}")


class Recommender:
  """A model ready to serve: tower, affinity, item embeddings, vocabulary.

  tower: (seq int32[b, W], at int32[b]) -> (z [b, M, d], attention [b, M, W]);
  score: (z [b, M, d], v [c, d]) -> [b, c]; items: float32[N + 1, d]; facts: model.json.
  """

  def __init__(self, *, tower: Tower, score: Score, items, vocab: Vocabulary, facts: dict):
    self.items = np.asarray(items, np.float32)
    self.vocab, self.facts = vocab, dict(facts)
    self.window = int(facts["window"])
    self.num_interests = int(facts["num_interests"])
    self._raw_tower, self._raw_score = tower, score   # unchecked: what jit and jax.export trace
    self._tower = jax.jit(tower)
    self._ranker = make_ranker(score)
    if vocab.num_items != self.items.shape[0] - 1:
      raise ValueError(f"vocabulary of {vocab.num_items} items, embeddings of "
                       f"{self.items.shape[0] - 1}")

  @property
  def num_items(self) -> int:
    return self.items.shape[0] - 1

  def tower_fn(self, seq, at):
    """The user tower on dense ids: (seq int[b, W], at int[b]) -> (z float32[b, M, d],
    attention float32[b, M, W]). Checked first (a ValueError, never another vector or NaN):
    seq holds ids 0..N (0: padding) in W = window columns, at one position 0..W-1 per row."""
    seq, at = _ints("seq", seq, 2), _ints("at", at, 1)
    if seq.shape[1] != self.window or at.shape[0] != seq.shape[0]:
      raise ValueError(f"tower: seq must be [b, {self.window}] and at [b], got {seq.shape} and "
                       f"{at.shape}")
    _within("seq", seq, 0, self.num_items, "a dense item id (0: padding)")
    _within("at", at, 0, self.window - 1, "a position in the window")
    return self._tower(seq.astype(np.int32), at.astype(np.int32))

  def score_fn(self, z, v):
    """The run's affinity: (z float[b, M, d], v float[c, d]) -> float32[b, c]; shapes checked."""
    z, v = np.asarray(z, np.float32), np.asarray(v, np.float32)
    m, d = self.num_interests, self.items.shape[1]
    if z.ndim != 3 or z.shape[1:] != (m, d) or v.ndim != 2 or v.shape[1] != d:
      raise ValueError(f"score: z must be [b, {m}, {d}] and v [c, {d}], got {z.shape} and "
                       f"{v.shape}")
    return self._raw_score(z, v)

  def encode(self, histories) -> Encoded:
    """Raw histories (strings or sequences of raw ids, oldest first) -> the tower's input."""
    toks = [_tokens(h) for h in histories_of(histories)]
    w = self.window
    seq = np.zeros((len(toks), w), np.int32)
    at = np.zeros(len(toks), np.int32)
    known, unknown, truncated = [], [], np.zeros(len(toks), np.int64)
    for b, t in enumerate(toks):
      ids = [self.vocab.raw_to_dense.get(x) for x in t]
      unknown.append([x for x, i in zip(t, ids) if i is None])
      k = np.array([i for i in ids if i is not None], np.int32)
      known.append(k)
      last = k[-w:]
      seq[b, :last.size] = last
      at[b] = max(last.size - 1, 0)
      truncated[b] = k.size - last.size
    return Encoded(toks, seq, at, known, unknown, truncated)

  def _reps(self, enc: Encoded, block_users: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(z float32[B, M, d], attention float32[B, M, W]) in blocks of rows (NaN: no history)."""
    n = enc.seq.shape[0]
    rows = _bucket(max(n, 1), block_users)
    zs, atts = [], []
    for lo in range(0, n, rows):
      s, a = enc.seq[lo:lo + rows], enc.at[lo:lo + rows]
      pad = rows - s.shape[0]
      z, att = self._tower(np.pad(s, ((0, pad), (0, 0))), np.pad(a, (0, pad)))
      zs.append(np.asarray(z)[:rows - pad])
      atts.append(np.asarray(att)[:rows - pad])
    if not zs:
      return (np.zeros((0, self.num_interests, self.items.shape[1]), np.float32),
              np.zeros((0, self.num_interests, self.window), np.float32))
    z, att = np.concatenate(zs), np.concatenate(atts)
    z[enc.empty], att[enc.empty] = np.nan, np.nan
    return z, att

  def user_reps(self, histories) -> np.ndarray:
    """float32[B, M, d] user representations (the prefix ending at each history's last known
    item, as evaluation pools it); NaN rows for histories with no known item."""
    return self._reps(self.encode(histories))[0]

  def top_k(self, histories, k: int = 20, *, exclude_history: bool = True,
            block_items: int = 4096, block_users: int = 256) -> Recommendations:
    """Exact top-k items of each history by the run's affinity over the whole catalogue.

    exclude_history: items of the history (all known ones, also those older than the
    window) are not recommended. Equal scores: the smaller dense id first. See
    `Recommendations` for the fields and `rows()` for raw ids.
    """
    enc = self.encode(histories)
    z, att = self._reps(enc, block_users)
    bsz = len(enc.tokens)
    h = max([x.size for x in enc.known] + [1]) if exclude_history else 1
    exclude = np.zeros((bsz, h), np.int32)
    if exclude_history:
      for b, x in enumerate(enc.known):
        exclude[b, :x.size] = x
    k = min(int(k), self.num_items)
    if bsz:
      scores, ids = blocked_top_k(np.nan_to_num(z), self.items, k, self.score_fn,
                                  exclude=exclude, block_items=block_items,
                                  block_users=block_users, ranker=self._ranker)
    else:
      scores, ids = np.zeros((0, k), np.float32), np.zeros((0, k), np.int32)
    scores[enc.empty], ids[enc.empty] = -np.inf, 0
    # The interest whose representation scores each item highest (float64; ties: smaller m).
    logits = np.einsum("bmd,bkd->bkm", np.nan_to_num(z).astype(np.float64),
                       self.items[ids].astype(np.float64))
    interest = np.where(ids > 0, np.argmax(logits, axis=-1), -1).astype(np.int32)
    return Recommendations(enc, ids, scores, interest, att, self.vocab, self.num_interests)


# ------------------------------------------------------------------------------- the folder
def write(rec: Recommender, out, platforms: Sequence[str] = ("cpu", "cuda"), *,
          force: bool = False) -> dict:
  """Writes `rec` as an export folder (module docstring); returns model.json's dict.

  The tower and the affinity are exported with `jax.export` for `platforms` (lowering needs no
  such device); when a platform cannot be lowered, the export falls back to the default one.
  The folder is written beside `out` under a temporary name and renamed into place when
  complete, so `out` is never half-written (a failure, a full disk: the temporary folder is
  removed and `out` is as it was). An `out` that holds files is replaced only with force.
  """
  out = check_out(out, force)
  tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
  shutil.rmtree(tmp, ignore_errors=True)   # left by a killed process of the same pid
  try:
    tmp.mkdir(parents=True)
    facts = _write_files(rec, tmp, platforms)
    _swap_into_place(tmp, out)
  except OSError as e:
    raise OSError(e.errno, f"{out}: the export could not be written ({e.strerror or e}); "
                  f"{'the folder there is unchanged' if out.exists() else 'nothing was written'}"
                  ) from None
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return facts


def check_out(out, force: bool = False) -> Path:
  """The absolute path of an export folder to write ("." and "x/.." too: a folder with a name,
  so that the temporary one can go beside it); a FileExistsError when it holds files and not
  force, or is a file."""
  out = Path(os.path.abspath(out))
  if out.exists() and not (out.is_dir() and (force or not any(out.iterdir()))):
    raise FileExistsError(f"{out}: " + ("exists and is not a folder" if not out.is_dir() else
                          "already holds files (an earlier export?); --force (force=True) "
                          "replaces it"))
  return out


def _swap_into_place(tmp: Path, out: Path):
  """Renames the finished folder tmp to out; an existing out is moved aside first and removed
  after (put back if the rename fails)."""
  old = None
  if out.exists():
    old = out.with_name(f".{out.name}.{os.getpid()}.old")
    os.replace(out, old)
  try:
    os.replace(tmp, out)
  except OSError:
    if old is not None:
      os.replace(old, out)
    raise
  if old is not None:
    shutil.rmtree(old, ignore_errors=True)


def _write_files(rec: Recommender, out: Path, platforms: Sequence[str]) -> dict:
  """The export folder's files in `out`; model.json's dict."""
  m, d, w = rec.num_interests, rec.items.shape[1], rec.window
  b, c = jax.export.symbolic_shape("b, c")
  specs = {"user_tower": (rec._raw_tower, (jax.ShapeDtypeStruct((b, w), jnp.int32),
                                           jax.ShapeDtypeStruct((b,), jnp.int32))),
           "affinity": (rec._raw_score, (jax.ShapeDtypeStruct((b, m, d), jnp.float32),
                                         jax.ShapeDtypeStruct((c, d), jnp.float32)))}
  lowered_for = None
  for name, (fn, args) in specs.items():
    try:
      exp = jax.export.export(jax.jit(fn), platforms=tuple(platforms))(*args)
    except Exception as e:  # pylint: disable=broad-except
      print(f"export: {name} could not be lowered for {tuple(platforms)} ({type(e).__name__}: "
            f"{str(e)[:200]}); exporting for {jax.export.default_export_platform()} only",
            file=sys.stderr)
      exp = jax.export.export(jax.jit(fn))(*args)
    lowered_for = exp.platforms if lowered_for is None else tuple(
        p for p in lowered_for if p in exp.platforms)
    (out / FILES[name]).write_bytes(exp.serialize())
  np.save(out / FILES["items"], rec.items)
  (out / FILES["vocab"]).write_text(json.dumps(rec.vocab.to_json()))
  facts = {**rec.facts, "format": FORMAT, "version": VERSION, "platforms": list(lowered_for),
           "jax_version": jax.__version__, "files": FILES, "ties": TIE_RULE,
           "user_tower": f"(seq int32[b, {w}], at int32[b]) -> (z float32[b, {m}, {d}], "
                         f"attention float32[b, {m}, {w}]); seq: the last {w} items, oldest "
                         "first, right-padded with 0; at: position of the last item",
           "affinity_fn": f"(z float32[b, {m}, {d}], v float32[c, {d}]) -> float32[b, c]"}
  (out / FILES["model"]).write_text(json.dumps(facts, indent=1))
  (out / FILES["loader"]).write_bytes(Path(__file__).read_bytes())
  (out / FILES["readme"]).write_text(_readme(rec.vocab, facts))
  return facts


def _readme(vocab: Vocabulary, facts: dict) -> str:
  """README.txt: how to load the folder with jax, numpy and flatbuffers (no idw_jax)."""
  example = " ".join(str(r) for r in vocab.dense_to_raw[1:4])
  return (f"An idw-jax export ({facts['num_items']} items): it loads with jax, numpy and "
          f"flatbuffers only (no idw_jax; written with jax {facts['jax_version']}).\n"
          "  import sys; sys.path.insert(0, DIR); import idw_export  # DIR: this folder's path\n"
          "  rec = idw_export.load(DIR)\n"
          f"  rec.top_k([\"{example}\"], k=20).rows()  # histories of raw item ids, oldest first\n"
          "model.json: the model's facts; idw_export.py: the loader (rec.user_reps, .top_k).\n")


def load(folder) -> Recommender:
  """A Recommender from an export folder, with jax, numpy and flatbuffers only
  (jax.export.deserialize); the same function as the folder's idw_export.load."""
  folder = Path(folder)
  facts = json.loads((folder / FILES["model"]).read_text())
  if facts.get("format") != FORMAT or facts.get("version") != VERSION:
    raise ValueError(f"{folder}: not an {FORMAT} folder of version {VERSION} "
                     f"(format {facts.get('format')!r}, version {facts.get('version')!r})")
  tower = jax.export.deserialize(bytearray((folder / FILES["user_tower"]).read_bytes()))
  score = jax.export.deserialize(bytearray((folder / FILES["affinity"]).read_bytes()))
  vocab = Vocabulary(json.loads((folder / FILES["vocab"]).read_text())["dense_to_raw"])
  return Recommender(tower=tower.call, score=score.call, items=np.load(folder / FILES["items"]),
                     vocab=vocab, facts=facts)


if __name__ == "__main__":
  # Writing a folder reads a run with the training code (idw_jax.recommend.load_run), which
  # serving never needs: the command lives there, so that this module (and the folder's copy,
  # idw_export.py) stays jax + numpy for everyone who imports it.
  from idw_jax import cli
  from idw_jax import recommend
  recommend.define_export_flags()
  cli.run(recommend.export_main)
