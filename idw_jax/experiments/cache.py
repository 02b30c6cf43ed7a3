"""Which runs of a grid are finished: a run's record, another record of its config, or its run
folder's results.json, each checked to hold the config asked for (the rules are in
idw_jax.experiments.grid's docstring). Nothing here computes a run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from idw_jax import workdir as workdir_lib
from idw_jax.experiments import records as records_lib
from idw_jax.experiments import specs as specs_lib


@dataclasses.dataclass
class RunRecord:
  """What happened to one run of a grid."""

  spec: specs_lib.RunSpec
  name: str
  workdir: Path
  status: str = "pending"      # cached | done | resumed | failed | stale | not run
  seconds: float = 0.0
  results: dict | None = None
  error: str = ""

  def summary(self) -> dict:
    return {"name": self.name, "method": self.spec.method, "seed": self.spec.seed,
            "preset": self.spec.preset, "sweep": self.spec.sweep,
            "workdir": str(self.workdir), "status": self.status}


def config_diff(saved: dict, cfg) -> str:
  """'' when a finished run's stored config (results.json or record) is `cfg` up to the fields
  that change no number (`workdir.IGNORED`); else the differences."""
  return workdir_lib.config_diff(saved, cfg.to_dict())


def _read_finished(rec: RunRecord, path: Path, cfg, holder: str) -> bool:
  """True when `path` (a results.json or a record) exists; sets rec cached or stale."""
  if not path.exists():
    return False
  results = json.loads(path.read_text())
  diff = config_diff(results.get("config", {}), cfg)
  if diff:
    rec.status, rec.error = "stale", f"{holder}holds another config ({diff}); delete it to rerun"
  else:
    rec.status, rec.results = "cached", results
  return True


def read_cached(rec: RunRecord, cfg) -> bool:
  """True when rec.workdir holds a finished run; sets status cached or stale."""
  return _read_finished(rec, rec.workdir / "results.json", cfg, "")


def read_record(rec: RunRecord, cfg, out: Path) -> bool:
  """True when the run has a record under <out>/records; sets rec cached or stale."""
  path = records_lib.record_path(out, rec.name)
  return _read_finished(rec, path, cfg, f"its record {path} ")


class RecordIndex:
  """The configs of the records under <out>/records, read once when first needed: a run whose
  record is missing or stale under its own name is finished when another record holds its
  config. Run names follow the preset's defaults, so after a preset change the same config
  gets another name (or its old name another config); the grid finds the record either way."""

  def __init__(self, out: Path):
    self.folder = Path(out) / "records"
    self._configs: list[tuple[str, dict]] | None = None

  def find(self, cfg, skip: str) -> str | None:
    """The name of a record (other than `skip`) holding `cfg` (config_diff ''), else None."""
    if self._configs is None:
      self._configs = []
      for path in sorted(self.folder.glob("*.json")):
        try:
          self._configs.append((path.stem, json.loads(path.read_text()).get("config", {})))
        except (OSError, ValueError):
          continue                 # not a record (or half written): never a match
    return next((name for name, saved in self._configs
                 if name != skip and not config_diff(saved, cfg)), None)


def read_matching_record(rec: RunRecord, cfg, out: Path, index: RecordIndex) -> bool:
  """True when another record holds rec's config: rec takes that record's name and folder."""
  name = index.find(cfg, skip=rec.name)
  if name is None:
    return False
  rec.name, rec.workdir, rec.error = name, out / "runs" / name, ""
  return read_record(rec, cfg, out)


def has_checkpoint(workdir: Path) -> bool:
  ckpt = workdir / "checkpoints"
  return ckpt.is_dir() and any(p.name.isdigit() for p in ckpt.iterdir())


def lookup(rec: RunRecord, cfg, out: Path, index: RecordIndex) -> bool:
  """True when rec is finished (status cached, or stale when what holds it has another
  config): its record first; then, unless it is cached or has checkpoints to resume, another
  record of its config (rec takes its name); then its run folder's results.json, whose missing
  record is written (a run finished before records existed, or a record lost)."""
  found = read_record(rec, cfg, out)
  if rec.status != "cached" and not has_checkpoint(rec.workdir):
    found = read_matching_record(rec, cfg, out, index) or found
  if found:
    return True
  if not read_cached(rec, cfg):
    return False
  if rec.status == "cached":
    records_lib.write_record(out, rec.name, rec.results, rec.workdir)
  return True


def pretrained_workdir(spec: specs_lib.RunSpec, runs: Path) -> Path | None:
  """A finished run of spec's base method under `runs` (same config and seed) that still has
  its checkpoints (the Driver starts from them), if any. A base run known only from its record
  does not count: the IDW run then pretrains itself."""
  base = specs_lib.base_run(spec)
  if base is None or dict(spec.overrides).get("idw.pretrained_workdir"):
    return None
  cfg = base.config()
  name = specs_lib.run_name(base, cfg)
  rec = RunRecord(base, name, runs / name)
  if not has_checkpoint(rec.workdir):
    return None
  return rec.workdir if read_cached(rec, cfg) and rec.status == "cached" else None
