"""Paired tests between methods: per-window metrics, t-test over seeds, bootstrap over windows."""

import json
import math

import numpy as np
import pytest

from idw_jax.experiments import significance as sig
from idw_jax.experiments import specs as specs_lib
from tests import handmade


def test_per_window_metrics_by_hand():
  ranks = np.array([0, 1, 19, 20, 500])
  np.testing.assert_allclose(sig.per_window(ranks, "HR@20"), [100, 100, 100, 0, 0])
  np.testing.assert_allclose(sig.per_window(ranks, "NDCG@20"),
                             [100, 100 / math.log2(3), 100 / math.log2(21), 0, 0])
  with pytest.raises(ValueError, match="HR@K or NDCG@K"):
    sig.per_window(ranks, "MRR@20")


def test_paired_t_matches_the_closed_form_for_two_degrees_of_freedom():
  # d = a - b = (1, 2, 3): mean 2, sd 1, t = 2 sqrt(3); with 2 dof, p = 1 - t / sqrt(t^2 + 2).
  diff, p = sig.paired_t([11.0, 22.0, 33.0], [10.0, 20.0, 30.0])
  t = 2 * math.sqrt(3)
  assert diff == pytest.approx(2.0)
  assert p == pytest.approx(1 - t / math.sqrt(t * t + 2), rel=1e-9)
  assert math.isnan(sig.paired_t([1.0, 2.0], [0.0, 1.0])[1])   # every difference equal


def test_bootstrap_of_identical_and_shifted_runs():
  rng = np.random.default_rng(0)
  ranks = [rng.integers(0, 100, 500) for _ in range(3)]
  assert sig.paired_bootstrap(ranks, ranks, num_samples=200) == (0.0, 0.0, 0.0)
  best = [np.zeros(500, np.int64)] * 3
  worst = [np.full(500, 25)] * 3
  assert sig.paired_bootstrap(best, worst, "NDCG@20", num_samples=200) == (100.0, 100.0, 100.0)


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_windows():
  rng = np.random.default_rng(1)
  widths = []
  for n in (400, 6400):
    b = [rng.integers(0, 60, n) for _ in range(2)]
    a = [np.maximum(r - rng.integers(0, 3, n), 0) for r in b]   # a ranks a little higher
    mean, lo, hi = sig.paired_bootstrap(a, b, "NDCG@20", num_samples=400)
    assert lo < mean < hi and lo > 0
    widths.append(hi - lo)
  assert widths[1] < widths[0] / 2      # ~1/sqrt(n): 4x narrower for 16x the windows


def test_holm_against_a_hand_computed_case():
  # p = (0.01, 0.04, 0.03, 0.005), m = 4. Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03,
  # 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> running max 0.06. NaN (no test) is left out of m.
  got = sig.holm([0.01, 0.04, 0.03, 0.005, math.nan])
  np.testing.assert_allclose(got[:4], [0.03, 0.06, 0.06, 0.02])
  assert math.isnan(got[4])
  assert sig.holm([0.9, 0.8]) == [1.0, 1.0]          # capped at 1
  assert sig.holm([0.02]) == [0.02]                   # a family of one: unchanged


def test_hierarchical_interval_equals_window_only_when_every_seed_is_the_same_run():
  rng = np.random.default_rng(3)
  b = rng.integers(0, 60, 2000)
  a = np.maximum(b - rng.integers(0, 4, 2000), 0)
  window = sig.paired_bootstrap([a] * 4, [b] * 4, "NDCG@20", num_samples=300)
  hier = sig.hierarchical_bootstrap([a] * 4, [b] * 4, "NDCG@20", num_samples=300)
  assert hier == window


def test_hierarchical_interval_widens_with_the_spread_between_seeds():
  # Per seed, a beats b by a seed-specific shift of every rank: the window-only interval sees
  # only the average over seeds, the hierarchical one also how much the seeds disagree.
  rng = np.random.default_rng(4)
  b = rng.integers(5, 60, 3000)
  widths = []
  for shifts in ((2, 2, 2, 2, 2), (0, 1, 2, 3, 4), (0, 0, 2, 4, 4)):
    a = [np.maximum(b - k, 0) for k in shifts]
    lo, hi = sig.hierarchical_bootstrap(a, [b] * 5, "NDCG@20", num_samples=400)[1:]
    wlo, whi = sig.paired_bootstrap(a, [b] * 5, "NDCG@20", num_samples=400)[1:]
    widths.append((hi - lo, whi - wlo))
  (h0, w0), (h1, w1), (h2, w2) = widths
  assert h0 == pytest.approx(w0, rel=0.25)    # no spread: about the window-only width
  assert h1 > 3 * w1 and h2 > h1               # widens with the spread between seeds


def _row(method, seed, ranks, extra=0.0):
  ndcg = float(sig.per_window(ranks, "NDCG@20").mean()) + extra
  hr = float(sig.per_window(ranks, "HR@20").mean())
  results = {"test": {"sampled": {"overall": {"NDCG@20": ndcg, "HR@20": hr}}, "full": None}}
  return {"method": method, "seed": seed, "results": results,
          "ranks": {"sampled": ranks, "full": None}}


def test_compare_pairs_by_seed_corrects_per_metric_and_calls_the_verdict():
  rng = np.random.default_rng(2)
  rows = []
  for s in range(3):
    base = rng.integers(0, 60, 3000)
    better = np.maximum(base - 5 - s, 0)
    rows += [_row("mur", s, base), _row("mur_idw", s, better),
             _row("sur", s, base, extra=[0.1, -0.1, 0.05][s])]
  rows.append({**_row("focal", 0, base), "ranks": None})   # no ranks, one seed: no interval
  out = {e["method"]: e for e in sig.compare(rows, num_samples=300)}
  key = ("sampled", "NDCG@20")
  idw = out["mur_idw"]["tests"][key]
  assert out["mur_idw"]["seeds"] == [0, 1, 2] and idw["ci_hier"][0] > 0
  assert idw["family"] == 2                 # focal has no p (one seed): not in the family
  assert idw["p_holm"] == pytest.approx(min(1.0, 2 * idw["p"]) if idw["p"] <= out["sur"][
      "tests"][key]["p"] else max(idw["p"], out["sur"]["tests"][key]["p_holm"]))
  assert idw["verdict"] == "real"
  sur = out["sur"]["tests"][key]
  assert sur["ci_windows"] == (0.0, 0.0) and sur["verdict"] == "noise"
  assert out["focal"]["tests"][key]["verdict"] == "n/a"
  assert ("full", "NDCG@20") not in out["mur_idw"]["tests"]   # no full-corpus metrics
  text = sig.markdown(list(out.values()), "mur")
  assert "| MUR-IDW | 3 |" in text and "Holm family: 2 tests" in text
  assert "| MUR-IDW | " in text.split("Verdicts side by side")[1]


def test_cli_compares_two_sets_of_records_paired_by_seed(tmp_path, capsys):
  # a has seeds 1, 2 and b seeds 0, 1, 2 (b's seed 0 has no partner). Per seed, a ranks every
  # window first; b ranks seed 1's windows second and seed 2's first. Paired by seed the
  # per-window NDCG@20 difference is 100 (1 - 1/log2 3) on seed 1 and 0 on seed 2, so its
  # mean is half that in every window; paired by position it would be different.
  def write(label, seed, rank):
    ndcg = 100.0 / math.log2(rank + 2) + seed
    results = {"seed": seed, "test": {"sampled": {"overall": {"NDCG@20": ndcg}}, "full": None}}
    (tmp_path / f"{label}-seed{seed}.json").write_text(json.dumps(results))
    np.savez(tmp_path / f"{label}-seed{seed}.test_ranks.npz", sampled=np.full(40, rank))
  for seed in (1, 2):
    write("a", seed, 0)
  for seed, rank in ((0, 1), (1, 1), (2, 0)):
    write("b", seed, rank)
  code = sig.run([], a=f"{tmp_path}/a-seed*",
                 b=f"{tmp_path}/b-seed0.json,{tmp_path}/b-seed[12].json", label_a="IDW",
                 label_b="MUR")
  out = capsys.readouterr().out
  want = 100.0 * (1 - 1 / math.log2(3)) / 2
  assert code == 0 and (f"| IDW | 2 | +{want:.2f} | 0.500 | 0.500 | [+{want:.2f}, +{want:.2f}] "
                        f"| [+0.00, +{2 * want:.2f}] |") in out
  # (the second interval: seeds resampled, 0, 1 or 2 of seed 1)


@pytest.mark.parametrize("case", ["no match", "same seed", "no common seed", "same label",
                                  "metric", "positional"])
def test_cli_record_sets_refuse_user_errors_in_one_line(tmp_path, capsys, case):
  for name, seed in (("a0", 0), ("a0bis", 0), ("b1", 1), ("b0", 0)):
    results = {"seed": seed, "test": {"sampled": {"overall": {"NDCG@20": 50.0}}, "full": None}}
    (tmp_path / f"{name}.json").write_text(json.dumps(results))
  a, b = f"{tmp_path}/a0.json", f"{tmp_path}/b0.json"
  folders, kw = {"no match": ([], {"a": f"{tmp_path}/zz*.json", "b": b}),
                 "same seed": ([], {"a": f"{tmp_path}/a0*.json", "b": b}),
                 "no common seed": ([], {"a": a, "b": f"{tmp_path}/b1.json"}),
                 "same label": ([], {"a": a, "b": b, "label_a": "m", "label_b": "m"}),
                 "metric": ([], {"a": a, "b": b, "metric": "NDCG@7"}),
                 "positional": (["results/ml1m"], {"a": a, "b": b})}[case]
  assert sig.run(folders, **kw) == 2
  err = capsys.readouterr().err.strip()
  assert err.count("\n") == 0 and (err.startswith("error:") or err.startswith("usage:"))


def test_cli_against_another_method_writes_its_own_file(tmp_path, capsys):
  """The grid-folder form writes significance.md against MUR; --against=sur writes
  significance_vs_sur.md and leaves the table against MUR as it was."""
  (tmp_path / "records").mkdir()
  runs = []
  for method, rank in (("mur", 1), ("sur", 0), ("mur_idw", 0)):
    name = f"{method}-paper-seed0"
    runs.append({"name": name, "method": method, "seed": 0, "sweep": {},
                 "workdir": str(tmp_path / "runs" / name)})
    ndcg = 100.0 / math.log2(rank + 2)
    spec = specs_lib.make_specs(handmade.SYNTHETIC, [method], [0])[0]
    results = {"dataset": "toy", "seed": 0, "config": handmade.config(spec),
               "test": {"sampled": {"overall": {"NDCG@20": ndcg}}, "full": None}}
    (tmp_path / "records" / f"{name}.json").write_text(json.dumps(results))
    np.savez(tmp_path / "records" / f"{name}.test_ranks.npz", sampled=np.full(30, rank))
  (tmp_path / "grid.json").write_text(json.dumps({"runs": runs}))
  assert sig.run([str(tmp_path)]) == 0
  against_mur = (tmp_path / "significance.md").read_text()
  assert "against MUR" in against_mur and "| SUR | 1 | +36.91 |" in against_mur
  assert sig.run([str(tmp_path)], against="sur") == 0
  assert (tmp_path / "significance.md").read_text() == against_mur
  against_sur = (tmp_path / "significance_vs_sur.md").read_text()
  assert "| MUR | 1 | -36.91 |" in against_sur and "| MUR-IDW | 1 | +0.00 |" in against_sur
  capsys.readouterr()


def test_leave_one_out_records_are_compared_on_the_fields_metrics(tmp_path, capsys):
  # Records with a "full_no_history" ranking (SASRec's leave-one-out protocol) are compared at
  # K = 10 on the sampled ranking and the full corpus without the history. Per seed, a ranks
  # every user first (sampled) and third (no history); b second and fourth: the per-user NDCG@10
  # differences are 100 (1 - 1/log2 3) and 100 (1/log2 4 - 1/log2 5), at every seed.
  def write(label, seed, sampled, no_hist):
    test = {"sampled": {"overall": {"NDCG@10": 100 / math.log2(sampled + 2) + seed,
                                    "HR@10": 100.0}},
            "full": {"overall": {"NDCG@10": 1.0}},
            "full_no_history": {"overall": {"NDCG@10": 100 / math.log2(no_hist + 2) + seed}}}
    (tmp_path / f"{label}-seed{seed}.json").write_text(json.dumps({"seed": seed, "test": test}))
    np.savez(tmp_path / f"{label}-seed{seed}.test_ranks.npz", sampled=np.full(30, sampled),
             full=np.full(30, no_hist + 5), full_no_history=np.full(30, no_hist))
  for seed in (0, 1):
    write("a", seed, 0, 2)
    write("b", seed, 1, 3)
  assert sig.run([], a=f"{tmp_path}/a-*.json", b=f"{tmp_path}/b-*.json") == 0
  out = capsys.readouterr().out
  sampled, no_hist = 100 * (1 - 1 / math.log2(3)), 100 * (0.5 - 1 / math.log2(5))
  assert "### NDCG@10, sampled (1 + 100)" in out and "### HR@10, sampled (1 + 100)" in out
  assert "### NDCG@10, full corpus, history removed" in out and "NDCG@20" not in out
  assert f"| a | 2 | +{sampled:.2f} |" in out and f"| a | 2 | +{no_hist:.2f} |" in out
  assert "| NDCG@10 sampled | HR@10 sampled | NDCG@10 full, no history |" in out
  # --metric=X: X on all three rankings.
  assert sig.run([], a=f"{tmp_path}/a-*.json", b=f"{tmp_path}/b-*.json", metric="NDCG@10") == 0
  out = capsys.readouterr().out
  assert "### NDCG@10, full corpus (" in out and "### NDCG@10, full corpus, history removed" in out
