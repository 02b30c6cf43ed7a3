"""One command-line convention for every entry point (idw_jax.cli): absl flags, `--help` that
exits 0 and lists the command's flags (the program's docstring first), a mistyped flag in one
line with exit code 2. Each entry point runs as users run it: a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ("config", "debug")                      # from idw_jax.cli: the config file, tracebacks
EXECUTION = ("jobs", "compilation_cache")
BENCH_CONFIG = ("config", "set")                  # benchmarks/common.py

# (command line, the flags its --help must list, a phrase of its docstring)
ENTRY_POINTS = {
    "launch": (["launch.py"], CONFIG + ("workdir",), "resumes when --workdir holds"),
    "grid": (["-m", "idw_jax.experiments.grid"],
             CONFIG + EXECUTION + ("methods", "seeds", "set", "out", "max_new_runs",
                                   "reuse_pretraining"), "Layout of <out>"),
    "tables": (["-m", "idw_jax.experiments.tables"], ("force", "debug"), "table.csv"),
    "significance": (["-m", "idw_jax.experiments.significance"],
                     ("metric", "against", "a", "b", "label_a", "label_b", "debug"),
                     "paired t-test"),
    "claims": (["-m", "idw_jax.experiments.claims"], ("out", "debug"), "Verdict words"),
    "literature": (["-m", "idw_jax.experiments.literature"], ("records", "out", "debug"),
                   "published numbers"),
    "search": (["-m", "idw_jax.experiments.search"],
               CONFIG + ("methods", "seeds", "momenta", "etas", "max_iterations", "out", "table",
                         "max_new_runs", "controls", "figure", "figure_dir"), "Sec. 4.4"),
    "figures": (["-m", "idw_jax.experiments.figures"],
                CONFIG + EXECUTION + ("out", "runs", "seeds", "methods", "values", "values2",
                                      "datasets", "controls", "projection", "tiny"), "fig9"),
    "recommend": (["-m", "idw_jax.recommend"],
                  ("workdir", "history", "input", "k", "output", "include_history", "json",
                   "data_root", "block_items", "debug"), "Top-K recommendations"),
    "export": (["-m", "idw_jax.export"], ("workdir", "out", "data_root", "platforms", "debug"),
               "export folder"),
    "evaluate": (["-m", "idw_jax.evaluate"],
                 ("workdir", "data", "output", "source", "delimiter", "header", "user_column",
                  "item_column", "time_column", "debug"), "another interaction file"),
    "bench_compare_results": (["benchmarks/compare_results.py"], ("debug",), "Field by field"),
    "bench_data_pipeline": (["benchmarks/data_pipeline.py"], BENCH_CONFIG + ("tfds_dir",),
                            "Data pipeline cost"),
    "bench_end_to_end": (["benchmarks/end_to_end.py"], BENCH_CONFIG + ("timeout", "keep"),
                         "Wall time of a whole run"),
    "bench_eval": (["benchmarks/eval.py"],
                   BENCH_CONFIG + ("queries", "items", "fraction", "tfds_dir"), "throughput"),
    "bench_kde": (["benchmarks/kde.py"],
                  ("items", "dim", "block_q", "block_n", "repeats", "impl", "seed"), "KDE"),
    "bench_ml1m_time_targets": (["benchmarks/ml1m_time_targets.py"],
                                ("schedule", "methods", "timeout", "config", "tiny", "set"),
                                "wall-second targets"),
    "bench_recommend": (["benchmarks/recommend.py"],
                        ("workdir", "users", "items", "dim", "interests", "k", "block_items",
                         "block_users", "skip_synthetic"), "Top-K recommendation throughput"),
    "bench_train_throughput": (["benchmarks/train_throughput.py"],
                               BENCH_CONFIG + ("steps", "repeats", "tfds_dir", "trace"),
                               "Training throughput"),
}


def _run(args, timeout=300):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                        env=env, timeout=timeout, check=False)


def _listed(help_text: str) -> set[str]:
  """The flag names a help text lists ("  --name: ..." or "  --[no]name: ...")."""
  names = set()
  for line in help_text.split("\nflags:\n", 1)[-1].splitlines():
    if line.startswith("  --"):
      names.add(line[4:].split(":", 1)[0].removeprefix("[no]"))
  return names


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_help_exits_0_and_lists_the_flags(name):
  args, wanted, phrase = ENTRY_POINTS[name]
  proc = _run([*args, "--help"])
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert phrase in proc.stdout.split("\nflags:\n")[0]          # the docstring comes first
  listed = _listed(proc.stdout)
  assert set(wanted) <= listed, sorted(set(wanted) - listed)
  assert "logtostderr" not in listed                          # absl's own: --helpfull only


def test_short_help_and_a_mistyped_flag():
  proc = _run(["-m", "idw_jax.experiments.tables", "-h"])
  assert proc.returncode == 0 and "--[no]force" in proc.stdout
  proc = _run(["-m", "idw_jax.experiments.tables", "results/ml1m", "--forse"])
  assert proc.returncode == 2 and "Traceback" not in proc.stderr
  (line,) = proc.stderr.strip().splitlines()
  assert "unknown option '--forse'; did you mean --force?" in line
  proc = _run(["-m", "idw_jax.experiments.tables"])      # the folder is required
  assert proc.returncode == 2 and proc.stderr.startswith("usage:")


def test_flags_and_the_positional_folder_mix_in_any_order(tmp_path):
  """`tables DIR --force` and `tables --force DIR` both parse (absl's GNU-style argv)."""
  for args in ([str(tmp_path), "--force"], ["--force", str(tmp_path)]):
    proc = _run(["-m", "idw_jax.experiments.tables", *args])
    assert proc.returncode == 2 and f"{tmp_path / 'grid.json'}: not found" in proc.stderr
