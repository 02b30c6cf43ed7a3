"""The IDW search (Sec. 4.4): a grid over momentum x eta and its selection table."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idw_jax import config as config_lib
from idw_jax.experiments import plotting
from idw_jax.experiments import search

ROOT = Path(__file__).resolve().parents[1]


def _entry(method, m, eta, valid, wakes, converged, seed=0):
  res = {"valid": {"sampled": None, "full": {"overall": {"NDCG@20": valid}}},
         "test": {"sampled": None, "full": {"overall": {"HR@20": 80.0, "NDCG@20": valid - 1},
                                            "tail": {"NDCG@20": 20.0}}},
         "phases": [{"phase": f"wake {i + 1}"} for i in range(wakes)],
         "idw_trace": [{"converged": converged}]}
  return {"method": method, "seed": seed, "sweep": {"momentum": m, "eta": eta}, "results": res}


def test_summary_and_selection_by_hand():
  rows = [_entry("mur_idw", 0.9, 1e-4, 30.0, 8, False),
          _entry("mur_idw", 0.9, 1e-4, 32.0, 8, True, seed=1),
          _entry("mur_idw", 0.7, 4e-4, 31.5, 3, True), _entry("sur_idw", 0.8, 2e-4, 29.0, 5, True)]
  entries = search.summarize(rows)
  by = {(e["method"], e["momentum"], e["eta"]): e for e in entries}
  e = by[("mur_idw", 0.9, 1e-4)]
  assert e["seeds"] == 2 and e["valid"] == 31.0 and e["wakes"] == [8, 8]
  assert e["ended"] == ["cap", "eta"]
  best = search.selected(entries)
  # Compared at seed 0, the seed both cells ran: 31.5 > 30.0.
  assert (best["mur_idw"]["momentum"], best["mur_idw"]["eta"]) == (0.7, 4e-4)
  text = search.markdown(entries, "NDCG@20", "cmd")
  assert ("## MUR-IDW: selected m = 0.7, eta = 0.0004 (best of 2 cells on validation NDCG@20 at "
          "seed(s) 0)") in text and "**31.50**" in text and "| 30.00 (2 seeds: 31.00) |" in text
  assert "## SUR-IDW: one cell run, m = 0.8, eta = 0.0002 (nothing selected)" in text
  assert e["control_ndcg"] is None and text.rstrip().endswith("| - | - | - |")  # no controls
  assert e["calibration"] is None                       # no sleep or calibration rows here


def test_selection_compares_cells_at_the_seeds_they_share():
  # Cell A ran seeds 0 and 1 (33, 29: mean 31), cell B seed 0 only (32). On the means B would
  # win; on seed 0, the draw both ran, A does (33 > 32). Without a shared seed: the means.
  a = [_entry("mur_idw", 0.99, 2e-4, 33.0, 8, True, seed=0),
       _entry("mur_idw", 0.99, 2e-4, 29.0, 8, True, seed=1)]
  b = _entry("mur_idw", 0.8, 4e-4, 32.0, 8, True, seed=0)
  entries = search.summarize(a + [b])
  assert search.common_seeds(entries, "mur_idw") == [0]
  assert search.selected(entries)["mur_idw"]["momentum"] == 0.99
  b["seed"] = 2
  entries = search.summarize(a + [b])
  assert search.common_seeds(entries, "mur_idw") == []
  assert search.selected(entries)["mur_idw"]["momentum"] == 0.8          # 32 > 31
  assert "at seed(s) none shared: each cell's own" in search.markdown(entries, "NDCG@20", "c")


def test_calibration_gain_is_calibration_best_minus_the_last_sleep():
  rows = [_entry("mur_idw", 0.9, 1e-4, 30.0, 2, True, seed=s) for s in (0, 1)]
  for r, (last_sleep, cal) in zip(rows, ((50.0, 53.0), (60.0, 59.0))):
    r["results"]["phases"] = [
        {"phase": "pretrain", "best_valid": 70.0}, {"phase": "sleep 0", "best_valid": 65.0},
        {"phase": "wake 1", "best_valid": 66.0}, {"phase": "sleep 1", "best_valid": last_sleep},
        {"phase": "calibrate", "best_valid": cal}]
  (e,) = search.summarize(rows)
  assert e["calibration"] == 1.0                        # (+3 - 1) / 2
  assert search.markdown([e], "NDCG@20", "c").rstrip().endswith("| +1.00 |")


def test_controls_are_matched_by_seed_and_wake_phases():
  # Seed 0 ran 8 wake phases, seed 1 ran 6: each is set beside the control with as many.
  rows = [_entry("mur_idw", 0.9, 1e-4, 30.0, 8, True, seed=0),
          _entry("mur_idw", 0.9, 1e-4, 32.0, 6, True, seed=1)]
  control = lambda ndcg: {"test": {"sampled": None, "full": {"overall": {"NDCG@20": ndcg}}}}  # noqa: E731
  controls = {("mur_idw", 0, 8): control(40.0), ("mur_idw", 1, 6): control(44.0),
              ("mur_idw", 1, 8): control(99.0)}                 # another wake count: not used
  (e,) = search.summarize(rows, controls=controls)
  assert e["control_ndcg"] == 42.0 and e["control_tail_ndcg"] is None   # no tail recorded
  assert "| 42.00 |" in search.markdown([e], "NDCG@20", "cmd")
  for c, tail in ((controls[("mur_idw", 0, 8)], 10.0), (controls[("mur_idw", 1, 6)], 13.0)):
    c["test"]["full"]["tail"] = {"NDCG@20": tail}
  (e,) = search.summarize(rows, controls=controls)
  assert e["control_tail_ndcg"] == 11.5 and "| 42.00 (11.50) |" in search.markdown([e], "N", "c")
  del controls[("mur_idw", 1, 6)]
  assert search.summarize(rows, controls=controls)[0]["control_ndcg"] is None


def test_control_interval_is_the_paired_difference_over_test_windows():
  # Seed 0's run ranks every target first (NDCG 100), its control second (NDCG 100 / log2 3);
  # seed 1's run ranks second and its control too. The per-window difference averaged over
  # the two seeds is constant, half of 100 - 100 / log2 3, so the bootstrap interval is that
  # one value. (The bootstrap averages over seeds per window, so it does not depend on which
  # seed's control goes with which run; which controls are used is tested above.)
  rows = [_entry("mur_idw", 0.9, 1e-4, 30.0, 8, True, seed=s) for s in (0, 1)]
  for r, rank in zip(rows, (0, 1)):
    r["ranks"] = {"full": np.full(50, rank, np.int64)}
  control = {"test": {"sampled": None, "full": {"overall": {"NDCG@20": 50.0}}}}
  controls = {("mur_idw", s, 8): control for s in (0, 1)}
  ranks = {("mur_idw", 0, 8): {"full": np.ones(50, np.int64)},
           ("mur_idw", 1, 8): {"full": np.ones(50, np.int64)}}
  (e,) = search.summarize(rows, controls=controls, control_ranks=ranks)
  want = (100.0 - 100.0 / np.log2(3.0)) / 2
  np.testing.assert_allclose(e["control_ci"], [want] * 3, rtol=1e-12)
  assert f"| +{want:.2f} [+{want:.2f}, +{want:.2f}] |" in search.markdown([e], "NDCG@20", "c")
  del ranks[("mur_idw", 1, 8)]                    # a control without ranks: no interval
  assert search.summarize(rows, controls=controls, control_ranks=ranks)[0]["control_ci"] is None


def test_figure_plots_every_cell_beside_its_control(tmp_path):
  rows = [_entry("mur_idw", 0.9, 1e-4, 30.0, 8, True), _entry("mur_idw", 0.9, 3e-4, 31.0, 2, True),
          _entry("mur_idw", 0.7, 1e-4, 28.0, 5, True)]
  control = {"test": {"sampled": None, "full": {"overall": {"NDCG@20": 33.0}}}}
  entries = search.summarize(rows, controls={("mur_idw", 0, 8): control})
  data = search.figure(entries, tmp_path / "fig7.png")
  assert (tmp_path / "fig7.png").stat().st_size > 0
  assert json.loads((tmp_path / "fig7.json").read_text()) == data
  test = data["mur_idw"]["test_ndcg"]
  assert set(test) == {"0.9", "0.7"} and set(test["0.9"]) == {"0.0001", "0.0003"}
  assert test["0.9"]["0.0001"] == {"ndcg": 29.0, "wakes": [8], "control_ndcg": 33.0}
  assert data["mur_idw"]["valid"]["0.9"]["0.0001"] == {"ndcg": 30.0, "wakes": [8]}
  assert test["0.9"]["0.0003"]["control_ndcg"] is None              # no control of 2 wakes
  assert data["mur_idw"]["valid"]["0.7"]["0.0001"]["ndcg"] == 28.0


def test_fig7_draws_an_eta_sweep_and_a_momentum_sweep_as_one_line_each():
  """figures fig7's cells: etas 1, 2, 3e-4 at m = 0.9 and momenta 0.7, 0.9, 1 at eta 2e-4.
  Against eta only m = 0.9 has a line (the other momenta have one eta each), against m only
  eta = 2e-4 has one; the reference is a dashed line in each panel of its split."""
  cells = [(0.9, 1e-4, 30.0), (0.9, 2e-4, 31.0), (0.9, 3e-4, 32.0), (0.7, 2e-4, 28.0),
           (1.0, 2e-4, 27.0)]
  rows = [_entry("mur_idw", m, eta, valid, 3, True) for m, eta, valid in cells]
  data = search.fig7_data(search.summarize(rows), {"valid": 26.0, "test_ndcg": 25.0})
  (valid, test), = [plotting.fig7_panels(data)]
  by_eta, by_m = test
  assert [s.label for s in by_eta.series] == ["m = 0.9"]
  np.testing.assert_allclose(by_eta.series[0].xs, [1.0, 2.0, 3.0])           # eta x 1e-4
  assert by_eta.series[0].ys == [29.0, 30.0, 31.0]                   # test = valid - 1 (_entry)
  assert [s.label for s in by_m.series] == ["eta = 0.0002"]
  assert by_m.series[0].xs == [0.7, 0.9, 1.0] and by_m.series[0].ys == [27.0, 30.0, 26.0]
  assert by_m.series[0].notes == ["3", "3", "3"]                        # wake phases per seed
  assert [h[:2] for h in by_m.hlines] == [(25.0, "MUR")]
  assert [h[:2] for h in valid[0].hlines] == [(26.0, "MUR")]
  assert valid[1].series[0].ys == [28.0, 31.0, 27.0] and valid[0].title == "MUR-IDW, validation"


@pytest.mark.slow      # the search command end to end: IDW runs and their controls
def test_search_cli_writes_the_table(tmp_path):
  overrides = [f"--config.{k}={v}" for k, v in config_lib.TINY_SWEEP.items()
               if not k.startswith("idw.max_iterations")]
  table = tmp_path / "idw_search.md"
  proc = subprocess.run(
      [sys.executable, "-m", "idw_jax.experiments.search",
       f"--config={ROOT / 'configs/synthetic.py'}", "--methods=mur_idw", "--seeds=0",
       "--momenta=0.5,0.9", "--etas=0.01", "--max_iterations=2", f"--out={tmp_path / 'grid'}",
       f"--table={table}", f"--figure_dir={tmp_path}", *overrides],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  text = table.read_text()
  assert "## MUR-IDW: selected m = " in text
  assert text.count("| 0.5 | 0.01 | 1 |") == 1 and text.count("| 0.9 | 0.01 | 1 |") == 1
  names = [p.name for p in (tmp_path / "grid" / "records").glob("*.json")]
  assert sum("momentum1" not in n for n in names) == 2          # the two IDW runs
  assert 1 <= sum("momentum1" in n for n in names) <= 2         # their m = 1 controls
  rows = [line.split("|") for line in text.splitlines() if line.startswith("| 0.")]
  assert rows and all(r[-4].strip() != "-" for r in rows)          # the control's NDCG@20
  assert all("[" in r[-3] for r in rows)                           # IDW - control, interval
  assert all(r[-2].strip() != "-" for r in rows)                   # calibration's change
  fig = json.loads((tmp_path / "fig7_search_synthetic.json").read_text())
  assert set(fig["mur_idw"]["test_ndcg"]) == {"0.5", "0.9"}
