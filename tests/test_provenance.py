"""Run records name their CPU, and the tables warn when one row mixes CPUs."""

import os

from idw_jax import provenance
from idw_jax.experiments import records, tables

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
stepping\t: 8
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma avx512f avx512bw avx512vl amx_tile

processor\t: 1
model name\t: Another CPU
flags\t\t: fpu sse
"""


def test_cpu_reads_the_first_processor_block(tmp_path):
  path = tmp_path / "cpuinfo"
  path.write_text(CPUINFO)
  cpu = provenance.cpu(path)
  assert cpu == {"model": "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz",
                 "signature": "family 6 model 143 stepping 8", "cores": os.cpu_count(),
                 "vector_extensions": ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw",
                                       "avx512vl", "amx_tile"]}
  assert provenance.cpu_identity({"host": {"cpu": cpu}}) == (
      f"Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz (family 6 model 143 stepping 8), "
      f"{os.cpu_count()} cores, sse4_2+avx+avx2+fma+avx512f+avx512bw+avx512vl+amx_tile")


def test_cpu_without_cpuinfo_still_names_something(tmp_path):
  cpu = provenance.cpu(tmp_path / "missing")
  assert cpu["cores"] == os.cpu_count() and cpu["vector_extensions"] == []
  assert cpu["signature"] is None


def test_records_from_before_the_host_block_are_cpu_unknown():
  assert provenance.cpu_identity({"method": "mur"}) == provenance.UNKNOWN
  assert provenance.cpu_identity(None) == provenance.UNKNOWN


def _results(model):
  host = None if model is None else {"cpu": {"model": model, "signature": None, "cores": 2,
                                             "vector_extensions": ["avx2"]}}
  r = {"method": "mur", "config": {"model": {"num_interests": 5}}, "test": {}}
  return r if host is None else {**r, "host": host}


def test_tables_warn_only_where_one_row_mixes_cpus():
  rows = [records.row("mur", 0, {}, _results("A"), "mur-seed0"),
          records.row("mur", 1, {}, _results("B"), "mur-seed1"),
          records.row("mur", 2, {}, _results(None), "mur-seed2"),
          records.row("sur", 0, {}, _results("A"), "sur-seed0"),     # one CPU: no warning
          records.row("sur", 1, {}, _results("A"), "sur-seed1"),
          records.row("sur", 2, {}, None, "sur-seed2"),              # unfinished: not counted
          records.row("focal", 0, {"eta": 1}, _results("A"), "f0"),  # other groups: apart
          records.row("focal", 0, {"eta": 2}, _results("B"), "f1")]
  lines = tables.mixed_cpu_warnings(rows)
  assert len(lines) == 1, lines
  line = lines[0]
  assert line.startswith("MUR mixes 3 CPUs")
  assert "A, 2 cores, avx2: seeds 0" in line and "B, 2 cores, avx2: seeds 1" in line
  assert f"{provenance.UNKNOWN}: mur-seed2" in line     # old records listed by name


def test_all_unknown_rows_do_not_warn():
  rows = [records.row("mur", s, {}, _results(None), f"mur-seed{s}") for s in range(3)]
  assert tables.mixed_cpu_warnings(rows) == []
