"""The claims table: verdict words from hand-made records whose outcomes are known."""

import json

import numpy as np

from idw_jax.experiments import claims, significance as sig


def _record(root, name, seed, ranks, before_ranks=None, silhouette=0.5):
  """A record whose sampled metrics are the mean per-window metrics of its ranks."""
  def block(r):
    return {"overall": {m: float(sig.per_window(r, m).mean()) for m in ("NDCG@20", "HR@20")}}
  res = {"seed": seed, "test": {"sampled": block(ranks), "full": None}, "silhouette": silhouette,
         "test_before_calibration": None if before_ranks is None else
         {"sampled": block(before_ranks), "full": None}}
  path = root / "r" / f"{name}-seed{seed}.json"
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(res))
  np.savez(path.with_name(f"{name}-seed{seed}.test_ranks.npz"), sampled=ranks)
  if before_ranks is not None:
    np.savez(path.with_name(f"{name}-seed{seed}.test_ranks_before_calibration.npz"),
             sampled=before_ranks)


def test_verdict_words_follow_the_outcomes_on_every_metric(tmp_path):
  rng = np.random.default_rng(0)
  base = rng.integers(0, 40, 4000)
  for s in range(4):
    _record(tmp_path, "base", s, base, silhouette=0.5 + 0.01 * s)
    # better: every rank 3 to 6 places higher (both metrics up, more or less by seed)
    _record(tmp_path, "better", s, np.maximum(base - 3 - s, 0), silhouette=0.6 + 0.02 * s)
    # ndcg_only: ranks below 10 - s move to 0 (NDCG@20 up), ranks 17-19 (16-19 at odd seeds)
    # fall out of the top 20 (HR@20 down)
    r = np.where(base < 10 - s, 0, np.where((base >= 17 - s % 2) & (base < 20), 40, base))
    _record(tmp_path, "ndcg_only", s, r)
    # calibrated: test after calibration better than before, from one record
    _record(tmp_path, "cal", s, np.maximum(base - 2 - s, 0), before_ranks=base)
  metrics = (claims.NDCG, claims.HR)
  cases = [
      claims.Claim("up", "t", "better > base", "", (("b - a", "r/better-seed*.json",
                                                     "r/base-seed*.json"),), metrics),
      claims.Claim("down", "t", "base > better", "", (("a - b", "r/base-seed*.json",
                                                       "r/better-seed*.json"),), metrics),
      claims.Claim("mixed", "t", "ndcg_only > base", "", (("n - a", "r/ndcg_only-seed*.json",
                                                           "r/base-seed*.json"),), metrics),
      claims.Claim("same", "t", "base > base", "", (("a - a", "r/base-seed*.json",
                                                     "r/base-seed*.json"),), metrics),
      claims.Claim("cal", "t", "calibration", "", (("after - before", "r/cal-seed*.json",
                                                    claims.CALIBRATION),), metrics),
      claims.Claim("one", "t", "seed 0", "", (("b - a", "r/better-seed0.json",
                                              "r/base-seed0.json"),), metrics),
      claims.Claim("sil", "t", "silhouette", "", (("b - a", "r/better-seed*.json",
                                                  "r/base-seed*.json"),),
                   (("silhouette", "silhouette", "overall"),)),
      claims.Claim("none", "t", "missing", "", (("x", "r/nothing-*.json", "r/base-seed*.json"),)),
      claims.Claim("kindle", "t", "no data", "", untestable="no data"),
  ]
  rows = {r["claim"].key: r for r in claims.evaluate(cases, root=tmp_path, num_samples=300)}
  assert rows["up"]["verdict"] == "reproduced"
  assert rows["down"]["verdict"] == "reversed"
  assert rows["mixed"]["verdict"] == "mixed: metrics disagree"
  outcomes = {claims._metric_name(t["metric"]): t["outcome"] for t in rows["mixed"]["tests"]}
  assert outcomes == {"NDCG@20": "+", "HR@20": "-"}
  assert rows["same"]["verdict"] == "not reproduced"
  assert rows["cal"]["verdict"] == "reproduced"
  assert rows["one"]["verdict"] == "reproduced (seed 0 only)"
  assert rows["sil"]["verdict"] == "reproduced" and rows["sil"]["tests"][0]["ci_kind"] == "seeds"
  assert rows["none"]["verdict"] == "not testable here" and rows["none"]["missing"]
  assert rows["kindle"]["verdict"] == "not testable here"
  # Holm over the table, one family per metric: each sampled metric has 6 tests here.
  fam = [t["family"] for r in rows.values() for t in r["tests"] if t["metric"] == claims.NDCG]
  assert set(fam) == {6}
  text = claims.markdown(list(rows.values()))
  assert "**reversed**" in text and "not run yet" in text and "Not testable here: no data" in text


def test_readme_line_shows_the_comparison_the_verdict_rests_on(tmp_path):
  """Two comparisons: one holds on both metrics with a small NDCG gain, the other gains far more
  NDCG but loses HR. The short line names the second (it makes the verdict mixed), although the
  first has the smaller first-metric difference."""
  rng = np.random.default_rng(1)
  base = rng.integers(0, 40, 4000)
  for s in range(4):
    _record(tmp_path, "base", s, base)
    _record(tmp_path, "small", s, np.maximum(base - 1 - s % 2, 0))
    _record(tmp_path, "lopsided", s,
            np.where(base < 15, 0, np.where((base >= 16 + s % 2) & (base < 20), 40, base)))
  claim = claims.Claim("two", "t", "both beat base", "", (
      ("small - base", "r/small-seed*.json", "r/base-seed*.json"),
      ("lopsided - base", "r/lopsided-seed*.json", "r/base-seed*.json")), (claims.NDCG, claims.HR))
  (row,) = claims.evaluate([claim], root=tmp_path, num_samples=300)
  got = {(t["label"], claims._metric_name(t["metric"])): t for t in row["tests"]}
  assert got["lopsided - base", "NDCG@20"]["diff"] > got["small - base", "NDCG@20"]["diff"] > 0
  assert [got["small - base", m]["outcome"] for m in ("NDCG@20", "HR@20")] == ["+", "+"]
  assert [got["lopsided - base", m]["outcome"] for m in ("NDCG@20", "HR@20")] == ["+", "-"]
  assert row["verdict"] == "mixed: comparisons disagree"
  line = claims.markdown([row], short=True).splitlines()[-1]
  assert "| lopsided - base: NDCG@20 +" in line and "small - base" not in line
