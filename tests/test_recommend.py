"""Recommendations from a trained run and its portable export (idw_jax.recommend, .export).

Every check is against an independent reference: the evaluation path (`Trainer.user_reps`,
`UserTower.apply`) for the towers, a float64 numpy brute force over all items for top-K.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from idw_jax import affinity
from idw_jax import checkpoints
from idw_jax import config as config_lib
from idw_jax import export
from idw_jax import models
from idw_jax import recommend
from idw_jax.data import pipeline
from idw_jax.train import Trainer
from tests.tiny import tiny_config

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}


def _run(*args, **kw):
  return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                        env=ENV, timeout=300, **kw)


@pytest.fixture(scope="module")
def run(mur_run, tmp_path_factory):
  """A finished tiny MUR run (the session's: M = 5, 50 synthetic items, window 19), its
  Recommender, its export folder and the evaluation path's Trainer and parameters."""
  wd = mur_run.workdir
  rec = recommend.load_run(wd)
  out = tmp_path_factory.mktemp("export") / "export"
  export.write(rec, out)
  meta, load = checkpoints.read_finished_run(wd, "test")
  cfg = ml_collections.ConfigDict(config_lib.backfill(meta["config"]))
  splits = pipeline.make_splits(cfg.data, pipeline.load_sequences(cfg.data))
  return {"workdir": wd, "rec": rec, "export": out, "loaded": export.load(out),
          "trainer": Trainer(cfg, splits), "params": load(None)["params"], "splits": splits}


def _text(ids) -> str:
  return " ".join(str(int(i)) for i in ids)     # synthetic data: raw id k is dense id k


def _brute_force(z, items, kind, exclude=()):
  """float64 scores of every item 1..N; the order (score descending, then smaller id)."""
  logits = np.einsum("md,nd->mn", np.float64(z), np.float64(items[1:]))
  if kind == "mixture":
    p = np.exp(logits - logits.max(axis=0))
    s = np.sum(p / p.sum(axis=0) * logits, axis=0)
  else:
    s = logits.max(axis=0)
  ids = np.arange(1, items.shape[0])
  keep = ~np.isin(ids, list(exclude))
  s, ids = s[keep], ids[keep]
  order = np.lexsort((ids, -s))
  return ids[order], s[order]


def test_exported_tower_equals_the_evaluation_path(run):
  """Histories = each window's test input; reference: Trainer.user_reps(params, "test")."""
  splits, tr = run["splits"], run["trainer"]
  want = np.asarray(tr.user_reps(run["params"], "test"))[:40]
  hist = [_text(splits.windows[w, :splits.lengths[w] - 1]) for w in range(40)]
  for rec in (run["loaded"], run["rec"]):
    got = rec.user_reps(hist)
    assert got.shape == want.shape == (40, 5, 16)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_tower_at_any_prefix_equals_user_tower_apply(run):
  """Histories of every length 1..19 (and a longer one, truncated to the last 19 items);
  reference: UserTower.apply(..., at=); the attention is the pooling's: z = sum_i a_i h_i."""
  splits, tr, params = run["splits"], run["trainer"], run["params"]["user"]
  rng = np.random.default_rng(0)
  rows = rng.integers(0, splits.num_windows, 19)
  at = np.arange(19, dtype=np.int32)                      # prefix lengths 1..19
  seq = splits.windows[rows, :-1]
  seq = np.where(np.arange(19)[None, :] <= at[:, None], seq, 0).astype(np.int32)
  captured = []

  def keep_input(next_fun, args, kwargs, context):
    if isinstance(context.module, models.ParametricAttention):
      captured.append(args[0])                            # h, the encoder output
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(keep_input):
    want = np.asarray(tr.user.apply({"params": params}, jnp.asarray(seq), at=jnp.asarray(at)))
  hist = [_text(seq[b, :at[b] + 1]) for b in range(19)]
  for rec in (run["loaded"], run["rec"]):
    enc = rec.encode(hist)
    np.testing.assert_array_equal(enc.seq, seq)
    z, att = rec._reps(enc)  # pylint: disable=protected-access
    np.testing.assert_allclose(z, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
    assert all(np.all(att[b, :, at[b] + 1:] == 0) for b in range(19))
    np.testing.assert_allclose(np.einsum("bmi,bid->bmd", att, np.asarray(captured[0])), want,
                               rtol=1e-4, atol=1e-5)
  long = list(rng.integers(1, 51, 25))
  enc = run["loaded"].encode([long])
  assert enc.truncated[0] == 6 and _text(enc.seq[0]) == _text(long[-19:])


def test_top_k_equals_float64_brute_force(run):
  """Same items in the same order (score descending; ties: smaller id), history excluded."""
  splits = run["splits"]
  hist = [splits.windows[w, :splits.lengths[w] - 1] for w in range(0, 60, 3)]
  for rec in (run["loaded"], run["rec"]):
    z = rec.user_reps([_text(h) for h in hist])
    recs = rec.top_k([_text(h) for h in hist], k=20)
    for b, h in enumerate(hist):
      ids, s = _brute_force(z[b], rec.items, "mixture", exclude=h)
      assert np.min(-np.diff(s[:21])) > 1e-5            # no near-ties: one right order
      np.testing.assert_array_equal(recs.items[b], ids[:20])
      np.testing.assert_allclose(recs.scores[b], s[:20], rtol=1e-5, atol=1e-5)
      logits = np.einsum("md,kd->km", np.float64(z[b]), np.float64(rec.items[ids[:20]]))
      np.testing.assert_array_equal(recs.interest[b], logits.argmax(-1))


def test_ties_go_to_the_smaller_id_across_and_within_blocks(run, tmp_path):
  """An export whose items 9, 30, 41 copy item 3 and item 20 copies item 12: every item ranked
  as the float64 brute force with ties by id, in blocks of 7 items (ties across and within
  blocks) and in one block."""
  folder = tmp_path / "ties"
  shutil.copytree(run["export"], folder)
  items = np.load(folder / "items.npy")
  items[[9, 30, 41]] = items[3]
  items[20] = items[12]
  np.save(folder / "items.npy", items)
  rec = export.load(folder)
  hist = ["1 2", "5 6 7 8", "44"]
  z = rec.user_reps(hist)
  for block in (7, 50):
    recs = rec.top_k(hist, k=50, block_items=block)
    for b in range(3):
      ids, _ = _brute_force(z[b], items, "mixture", exclude=recs.encoded.known[b])
      np.testing.assert_array_equal(recs.items[b, :ids.size], ids)
      pos = {int(i): r for r, i in enumerate(recs.items[b])}
      assert pos[3] + 1 == pos[9] and pos[9] + 1 == pos[30] and pos[30] + 1 == pos[41]
      assert pos[12] + 1 == pos[20]
      assert recs.scores[b, pos[3]] == recs.scores[b, pos[41]]


def test_blocked_top_k_equals_unblocked(run):
  """Same items and interests; scores equal up to float32 rounding (another tile width is
  another compiled kernel: a last-bit difference)."""
  rec, splits = run["loaded"], run["splits"]
  hist = [_text(splits.windows[w, :5 + w % 10]) for w in range(11)]
  full = rec.top_k(hist, k=25, block_items=50)
  for block_items, block_users in ((1, 256), (7, 3), (16, 4), (49, 256)):
    got = rec.top_k(hist, k=25, block_items=block_items, block_users=block_users)
    np.testing.assert_array_equal(got.items, full.items)
    np.testing.assert_allclose(got.scores, full.scores, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got.interest, full.interest)


def test_exclude_history(run):
  rec = run["loaded"]
  hist = ["3 3 7 11 7", "1 2 3 4 5 6 7 8 9 10"]
  z = rec.user_reps(hist)
  on = rec.top_k(hist, k=50)                               # every item: the history is left out
  off = rec.top_k(hist, k=50, exclude_history=False)
  for b, known in enumerate(on.encoded.known):
    seen = set(known.tolist())
    n_ok = 50 - len(seen)
    assert not seen & set(on.items[b, :n_ok].tolist())
    assert np.all(on.items[b, n_ok:] == 0) and np.all(on.scores[b, n_ok:] == -np.inf)
    assert np.all(on.interest[b, n_ok:] == -1)
    np.testing.assert_array_equal(on.items[b, :n_ok], _brute_force(z[b], rec.items, "mixture",
                                                                   seen)[0])
    np.testing.assert_array_equal(off.items[b], _brute_force(z[b], rec.items, "mixture")[0])
    assert len(on.rows()[b]["items"]) == n_ok


def test_unknown_ids_are_reported_never_dropped_silently(run):
  rec = run["loaded"]
  recs = rec.top_k(["1 2 zz 3 999", "nope 0", "", [4, "5", 4]], k=5)
  rows = recs.rows()
  assert rows[0]["unknown"] == ["zz", "999"] and rows[0]["history"] == ["1", "2", "zz", "3", "999"]
  np.testing.assert_array_equal(recs.encoded.known[0], [1, 2, 3])
  assert len(rows[0]["items"]) == 5 and "error" not in rows[0]
  for r in (1, 2):                                         # nothing known: said, no items
    assert rows[r]["error"] and rows[r]["items"] == [] and np.all(recs.items[r] == 0)
  assert rows[1]["unknown"] == ["nope", "0"]               # 0 is padding, not an item
  assert np.isnan(rec.user_reps(["nope"])).all()
  np.testing.assert_array_equal(recs.encoded.known[3], [4, 5, 4])
  assert rows[3]["items"][0]["interest"] in range(5) and len(rows[3]["items"][0]["attends_to"]) == 3
  json.dumps(rows)                                         # JSON-ready


def test_max_affinity_and_single_interest_without_a_run(tmp_path):
  """A hand-made model (M = 1, max affinity) through export.write / load: top-K equals the
  brute force, and rows carry no interest columns."""
  rng = np.random.default_rng(1)
  n, d, w = 300, 8, 6
  items = rng.normal(size=(n + 1, d)).astype(np.float32)
  items[0] = 0
  proj = jnp.asarray(rng.normal(size=(d, d)).astype(np.float32))
  table = jnp.asarray(items)

  def tower(seq, at):                                     # mean of the visible items, projected
    vis = (jnp.arange(seq.shape[1])[None, :] <= at[:, None]).astype(jnp.float32)
    att = vis / vis.sum(-1, keepdims=True)
    return jnp.einsum("bi,bid,de->be", att, table[seq], proj)[:, None, :], att[:, None, :]

  vocab = export.Vocabulary([None] + [f"i{k}" for k in range(1, n + 1)])
  facts = {"affinity": "max", "num_interests": 1, "window": w, "embed_dim": d, "num_items": n}
  score = lambda z, v: affinity.affinity(z, v, "max")
  export.write(export.Recommender(tower=tower, score=score, items=items, vocab=vocab,
                                  facts=facts), tmp_path, platforms=("cpu",))
  rec = export.load(tmp_path)
  hist = ["i1 i2 i3", "i300 i7 i9 i10 i11 i12 i13 i14"]
  recs = rec.top_k(hist, k=30, block_items=64)
  z = rec.user_reps(hist)
  for b in range(2):
    ids, _ = _brute_force(z[b], items, "max", recs.encoded.known[b])
    np.testing.assert_array_equal(recs.items[b], ids[:30])
  row = recs.rows()[1]
  assert row["truncated"] == 2 and row["items"][0]["item"].startswith("i")
  assert "interest" not in row["items"][0]
  assert "interest" not in export.format_rows([row])


@pytest.mark.slow      # the recommend command, a subprocess
def test_cli_prints_k_rows_with_the_interest(run):
  proc = _run("-m", "idw_jax.recommend", f"--workdir={run['workdir']}", "--history=1 2 3 4 x9",
              "-k", "7")
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.splitlines()
  header = next(i for i, l in enumerate(lines) if l.split()[:3] == ["rank", "item", "score"])
  assert "interest" in lines[header] and "attends to" in lines[header]
  body = lines[header + 1:]
  assert [int(l.split()[0]) for l in body] == list(range(1, 8))
  want = run["rec"].top_k(["1 2 3 4"], k=7)
  assert [int(l.split()[1]) for l in body] == want.items[0].tolist()
  assert [int(l.split()[3]) for l in body] == want.interest[0].tolist()
  assert "x9" in proc.stdout and "1 unknown id" in proc.stderr


@pytest.mark.slow      # the recommend command, a subprocess
def test_cli_input_file_writes_json_lines(run, tmp_path):
  path = tmp_path / "histories.txt"
  path.write_text("1 2 3\n\n7 bad 8 bad2\n")
  proc = _run("-m", "idw_jax.recommend", f"--workdir={run['workdir']}", f"--input={path}",
              "-k", "4")
  assert proc.returncode == 0, proc.stderr[-2000:]
  rows = [json.loads(l) for l in proc.stdout.splitlines()]
  assert [r["line"] for r in rows] == [1, 2, 3]
  assert [len(r["items"]) for r in rows] == [4, 0, 4] and "error" in rows[1]
  assert rows[2]["unknown"] == ["bad", "bad2"] and "2 unknown id(s) in 1 of 3" in proc.stderr
  assert all("interest" in e and "attends_to" in e for e in rows[0]["items"])


def test_the_export_folder_carries_its_loader_and_how_to_load_it(run):
  """idw_export.py is idw_jax/export.py byte for byte (a loader that drifted fails here; the
  standalone load: test_export_standalone.py); README.txt names the three packages and a history
  of the run's own raw ids."""
  folder = run["export"]
  assert sorted(p.name for p in folder.iterdir()) == sorted(export.FILES.values())
  assert (folder / "idw_export.py").read_bytes() == Path(export.__file__).read_bytes()
  readme = (folder / "README.txt").read_text()
  assert "loads with jax, numpy and flatbuffers only (no idw_jax" in readme
  assert "rec = idw_export.load(DIR)" in readme and 'rec.top_k(["1 2 3"], k=20)' in readme


@pytest.mark.slow      # a fresh interpreter, to see what it imports
def test_the_loader_needs_only_numpy_and_jax(run):
  code = ("import sys; from idw_jax import export; r = export.load(sys.argv[1]); "
          "print(len(r.top_k(['1 2 3'], k=3).rows()[0]['items'])); "
          "print(sorted(m for m in sys.modules if m.split('.')[0] in "
          "('flax', 'optax', 'orbax', 'ml_collections', 'sklearn') or m.startswith('idw_jax.')))")
  proc = _run("-c", code, str(run["export"]))
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.split("\n")[:2] == ["3", "['idw_jax.export']"]
  facts = json.loads((run["export"] / "model.json").read_text())
  assert {k: facts[k] for k in ("affinity", "num_interests", "embed_dim", "max_len", "window",
                                 "num_items")} == {"affinity": "mixture", "num_interests": 5,
                                                   "embed_dim": 16, "max_len": 20, "window": 19,
                                                   "num_items": 50}
  assert "temperature" in facts and "cpu" in facts["platforms"]
  vocab = json.loads((run["export"] / "vocab.json").read_text())
  assert vocab["dense_to_raw"][:3] == [None, 1, 2] and vocab["raw_to_dense"]["50"] == 50


@pytest.mark.slow      # a whole run of the authors' preset
def test_authors_towers_serve_with_their_pooling_weights(tmp_path):
  """The authors' preset (tfrs encoder without a final LayerNorm, scaled pooling): the served
  representations equal UserTower.apply(..., at=), and the attention returned is the pooling's,
  learned scale included (z = sum_i a_i x_i over the encoder output x)."""
  from idw_jax import driver
  wd = tmp_path / "authors"
  driver.run(tiny_config("mur,authors_code"), wd)   # configs/synthetic.py:mur,authors_code,tiny
  meta, load = checkpoints.read_finished_run(wd, "test")
  cfg = ml_collections.ConfigDict(config_lib.backfill(meta["config"]))
  assert cfg.model.encoder == "tfrs" and cfg.model.interest_pool == "scaled"
  params = load(None)["params"]["user"]
  params["interests"]["scale"] = jnp.float32(3.0)          # a scale that matters
  tr = Trainer(cfg, pipeline.make_splits(cfg.data, pipeline.load_sequences(cfg.data)))
  seq = tr.splits.windows[:12, :-1]
  at = (tr.splits.lengths[:12] - 2).astype(np.int32)
  captured = []

  def keep_input(next_fun, args, kwargs, context):
    if isinstance(context.module, models.ParametricAttention):
      captured.append(args[0])
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(keep_input):
    want = np.asarray(tr.user.apply({"params": params}, jnp.asarray(seq), at=jnp.asarray(at)))
  z, att = recommend.tower_fn(tr.user, params)(jnp.asarray(seq), jnp.asarray(at))
  np.testing.assert_allclose(np.asarray(z), want, rtol=1e-6, atol=1e-6)
  att = np.asarray(att)
  np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
  assert all(np.all(att[b, :, at[b] + 1:] == 0) for b in range(12))
  np.testing.assert_allclose(np.einsum("bmi,bid->bmd", att, np.asarray(captured[0])), want,
                             rtol=1e-4, atol=1e-5)
  served = recommend.load_run(wd)
  export.write(served, tmp_path / "export")
  hist = [_text(seq[b, :at[b] + 1]) for b in range(12)]
  np.testing.assert_allclose(export.load(tmp_path / "export").user_reps(hist),
                             served.user_reps(hist), rtol=1e-5, atol=1e-6)
  assert len(served.top_k(hist[:1], k=5).items[0]) == 5


# ------------------------------------------------------------------------- reliability (#31)
def _snapshot(folder: Path) -> dict:
  return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_export_never_replaces_a_folder_silently_nor_half_writes_one(run, tmp_path,
                                                                     monkeypatch):
  # Reproduces: export wrote into a folder holding another export in place (silently), and a
  # failure mid-write (a full disk) left user_tower.jax truncated and the old export gone.
  out = tmp_path / "serving"
  shutil.copytree(run["export"], out)
  before = _snapshot(out)
  with pytest.raises(FileExistsError, match="already holds files.*--force"):
    export.write(run["rec"], out, platforms=("cpu",))
  assert _snapshot(out) == before

  def disk_full(*args, **kwargs):                          # after both .jax files are written
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(export.np, "save", disk_full)
  with pytest.raises(OSError, match="could not be written.*the folder there is unchanged"):
    export.write(run["rec"], out, platforms=("cpu",), force=True)
  monkeypatch.undo()
  assert _snapshot(out) == before
  assert sorted(p.name for p in tmp_path.iterdir()) == ["serving"]     # no temporary folder
  export.write(run["rec"], out, platforms=("cpu",), force=True)         # --force replaces it
  assert sorted(p.name for p in out.iterdir()) == sorted(export.FILES.values())
  assert sorted(p.name for p in tmp_path.iterdir()) == ["serving"]


def test_the_exported_tower_refuses_out_of_range_inputs(run):
  # Reproduces: position at=100 returned another vector, at=-1 and item id 999 NaN, at=-5
  # values; now each is a ValueError naming the entry. In range, it is the tower.
  rec = run["loaded"]
  seq = np.zeros((2, 19), np.int32)
  seq[:, :3] = [[1, 2, 3], [4, 5, 6]]
  z, _ = rec.tower_fn(seq, np.array([2, 1]))
  want = rec._reps(rec.encode(["1 2 3", "4 5"]))  # pylint: disable=protected-access
  np.testing.assert_allclose(np.asarray(z), want[0], rtol=1e-6, atol=1e-6)
  for at, words in (([100, 1], r"at\[0\] = 100"), ([2, -1], r"at\[1\] = -1"),
                    ([-5, 1], r"at\[0\] = -5")):
    with pytest.raises(ValueError, match=words + r" is not a position in the window in 0\.\.18"):
      rec.tower_fn(seq, np.array(at))
  bad = seq.copy()
  bad[1, 2] = 999
  with pytest.raises(ValueError, match=r"seq\[1, 2\] = 999 is not a dense item id .* 0\.\.50"):
    rec.tower_fn(bad, np.array([2, 2]))
  for args, words in (((seq[:, :5], np.array([1, 1])), r"seq must be \[b, 19\]"),
                      ((seq, np.array([1])), r"and at \[b\]"),
                      ((seq.astype(np.float32), np.array([1, 1])), "integer array"),
                      ((np.zeros((2, 5, 3)), rec.items), r"z must be \[b, 5, 16\]")):
    with pytest.raises(ValueError, match=words):
      (rec.score_fn if args[0].ndim == 3 else rec.tower_fn)(*args)


def test_top_k_takes_any_sequence_of_ids(run):
  # Reproduces: top_k([1, 2, 3]) with a list raised a TypeError; a list, a tuple or a numpy
  # array of ids is one history, as the string "1 2 3" is.
  rec = run["loaded"]
  want = rec.top_k("1 2 3", k=5).items
  for history in ([1, 2, 3], (1, 2, 3), np.array([1, 2, 3]), [np.int64(1), 2, 3]):
    np.testing.assert_array_equal(rec.top_k(history, k=5).items, want)
  both = rec.top_k(np.array([[1, 2, 3], [4, 5, 6]]), k=5).items       # rows: histories
  np.testing.assert_array_equal(both, rec.top_k(["1 2 3", "4 5 6"], k=5).items)
  with pytest.raises(ValueError, match=r"histories\[1\]: 7 is not a history"):
    rec.top_k(["1 2", 7])


@pytest.mark.slow
def test_cli_input_file_with_a_bom(run, tmp_path):
  # Reproduces: a UTF-8 BOM at the start of an --input file made the first id unknown.
  path = tmp_path / "histories.txt"
  path.write_bytes("1 2 3\n7 8\n".encode("utf-8-sig"))
  proc = _run("-m", "idw_jax.recommend", f"--workdir={run['workdir']}", f"--input={path}",
              "-k", "4")
  assert proc.returncode == 0, proc.stderr[-2000:]
  rows = [json.loads(l) for l in proc.stdout.splitlines()]
  assert rows[0]["history"] == ["1", "2", "3"] and rows[0]["unknown"] == []
  assert [e["item"] for e in rows[0]["items"]] == run["rec"].top_k(["1 2 3"], k=4).items[0].tolist()
  assert "unknown" not in proc.stderr


@pytest.mark.slow
def test_a_damaged_newest_checkpoint_is_set_aside_by_recommend_and_export(run, tmp_path):
  # Reproduces: a damaged newest checkpoint made recommend and export crash with a 148-line
  # traceback (a bare Exception); now they read the one before (set aside, said, the same
  # parameters: evaluation changes none), and none readable is one line. Export's warning on a
  # checkpoint that is not the run's last names "export:", not "recommend:".
  wd = tmp_path / "run"
  shutil.copytree(run["workdir"], wd)
  steps = sorted(int(p.name) for p in (wd / "checkpoints").iterdir() if p.name.isdigit())
  assert len(steps) == 2
  for f in (wd / "checkpoints" / str(steps[-1])).rglob("*"):
    if f.is_file():
      f.write_bytes(f.read_bytes()[:f.stat().st_size // 2])
  proc = _run("-m", "idw_jax.recommend", f"--workdir={wd}", "--history=1 2 3 4", "-k", "5",
              "--json")
  assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  assert f"checkpoint {wd / 'checkpoints' / str(steps[-1])} cannot be read" in proc.stderr
  assert [e["item"] for e in json.loads(proc.stdout)["items"]] == (
      run["rec"].top_k(["1 2 3 4"], k=5).items[0].tolist())
  assert [p.name.split("-")[0] for p in (wd / "damaged_checkpoints").iterdir()] == [
      str(steps[-1])]
  proc = _run("-m", "idw_jax.export", f"--workdir={wd}", f"--out={tmp_path / 'e'}",
              "--platforms=cpu")
  assert proc.returncode == 0, proc.stderr[-2000:]
  warning = next(l for l in proc.stderr.splitlines() if "has not finished" in l)
  assert warning.startswith("export: ") and "recommend" not in warning
  for f in (wd / "checkpoints").rglob("*"):
    if f.is_file():
      f.write_bytes(f.read_bytes()[:f.stat().st_size // 2])
  proc = _run("-m", "idw_jax.recommend", f"--workdir={wd}", "--history=1 2 3 4")
  lines = proc.stderr.strip().splitlines()
  assert proc.returncode == 1 and "Traceback" not in proc.stderr
  assert "no readable checkpoint in" in lines[-1] and len(lines) == 2    # the line said, the error
