"""Which runs of a grid are finished: a run's record, another record of its config, or its run
folder's results.json, each checked to hold the config asked for (the rules are in
idw_jax.experiments.grid's docstring). Nothing here computes a run.

One function decides whether finished results may stand for a run: `stale_reason` (the config,
as workdir.config_diff compares it, and the data fingerprint). The grid calls it on the spec it
builds; the tables and significance call it, through `accepted_rows`, on the spec rebuilt from
the manifest's entry (grid.json keeps each run's config file and overrides), so they use
exactly the records the grid accepts. Manifests written before they kept them are checked
as well as their records allow (`_old_manifest_refusals`).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Callable, Sequence

from idw_jax import config as config_lib
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
    """The run's manifest entry (grid.json): enough to rebuild its spec (manifest_spec)."""
    return {"name": self.name, "method": self.spec.method, "seed": self.spec.seed,
            "preset": self.spec.preset, "sweep": self.spec.sweep,
            "config_file": _portable(self.spec.config_file),
            "overrides": [[k, v] for k, v in self.spec.overrides],
            "workdir": str(self.workdir), "status": self.status}


def _portable(config_file: str) -> str:
  """A config file relative to the repository root when it lies inside it (a clone elsewhere
  finds it), else as an absolute path."""
  path = specs_lib.resolve_config_file(config_file)
  root = config_lib.repo_root().resolve()
  return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def manifest_spec(run: dict) -> specs_lib.RunSpec | None:
  """The RunSpec of a manifest entry (RunRecord.summary); None for an entry written before
  manifests kept the config file and overrides."""
  if "config_file" not in run or "overrides" not in run:
    return None
  def tupled(v):
    return tuple(v) if isinstance(v, list) else v
  return specs_lib.RunSpec(run["config_file"], run["method"], int(run["seed"]),
                           run.get("preset", "paper"),
                           tuple((k, tupled(v)) for k, v in run["overrides"]),
                           tuple((k, tupled(v)) for k, v in run["sweep"].items()))


def config_diff(saved: dict, cfg) -> str:
  """'' when a finished run's stored config (results.json or record) is `cfg` up to the fields
  that change no number (`workdir.IGNORED`); else the differences."""
  return workdir_lib.config_diff(saved, cfg.to_dict())


def stale_reason(results: dict, cfg, what: str,
                 data_now: Callable[[], str | None] | None = None) -> str:
  """'' when finished results (a results.json or a record, named `what` in the answer) may
  stand for a run of `cfg`; else why not, one line: it holds another config (the fields that
  differ, as `config_diff`), or its "data_fingerprint" differs from `data_now()` (the run's
  data file now; records from before fingerprints, and data that cannot be read, pass). The
  grid's and the tables' one rule (module docstring)."""
  if not isinstance(results, dict) or not isinstance(results.get("config"), dict):
    return f"{what} is not a run record (no config)"
  diff = config_diff(results["config"], cfg)
  if diff:
    return f"{what} holds another config ({diff})"
  stored = results.get("data_fingerprint")
  if stored is None or data_now is None:
    return ""
  from idw_jax.data import fingerprint
  return fingerprint.mismatch(what, stored, data_now()) or ""


def data_fingerprint(cfg) -> str | None:
  """The fingerprint of cfg's data file now; None for synthetic data or a file that cannot be
  read (a clone without the data: its records are not recomputed, so they stand)."""
  from idw_jax.data import fingerprint
  try:
    return fingerprint.of_data(cfg.data)
  except ValueError:
    return None


def _read_finished(rec: RunRecord, path: Path, cfg, holder: str) -> bool:
  """True when `path` (a results.json or a record) exists; sets rec cached or stale (a damaged
  file is stale too: never overwritten)."""
  if not path.exists():
    return False
  try:
    results = records_lib.read_json(path)
  except ValueError as e:
    rec.status, rec.error = "stale", str(e)
    return True
  why = stale_reason(results, cfg, holder or "its results.json",
                     lambda: data_fingerprint(cfg))
  if why:
    why = why.removeprefix("its results.json ") if not holder else why
    rec.status, rec.error = "stale", f"{why}; delete it to rerun"
  else:
    rec.status, rec.results = "cached", results
  return True


def read_cached(rec: RunRecord, cfg) -> bool:
  """True when rec.workdir holds a finished run; sets status cached or stale. A cached run's
  error.txt older than its results.json (a failed attempt that another process then finished)
  is removed: it no longer says anything true about the run."""
  found = _read_finished(rec, rec.workdir / "results.json", cfg, "")
  if found and rec.status == "cached":
    remove_stale_error(rec.workdir)
  return found


def remove_stale_error(workdir: Path):
  """Deletes <workdir>/error.txt when <workdir>/results.json is at least as new."""
  error, results = Path(workdir) / "error.txt", Path(workdir) / "results.json"
  try:
    if results.stat().st_mtime_ns >= error.stat().st_mtime_ns:
      error.unlink()
  except FileNotFoundError:
    pass


def read_record(rec: RunRecord, cfg, out: Path) -> bool:
  """True when the run has a record under <out>/records; sets rec cached or stale."""
  path = records_lib.record_path(out, rec.name)
  return _read_finished(rec, path, cfg, f"its record {path}")


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


# ------------------------------------------------------- the tables' and significance's rows
class StaleRecords(ValueError):
  """Records the grid would not accept: one line per record (or per table of mixed data)."""

  def __init__(self, lines: Sequence[str]):
    super().__init__("\n".join(lines))
    self.lines = list(lines)


def accepted_rows(out: str | os.PathLike, with_ranks: bool = False) -> list[dict]:
  """records.rows_from_manifest's rows when every finished one is what the grid would accept
  (`refusals`); else StaleRecords, nothing averaged in."""
  rows = records_lib.rows_from_manifest(out, with_ranks)
  lines = refusals(rows, Path(out) / "grid.json")
  if lines:
    raise StaleRecords(lines)
  return rows


def refusals(rows: Sequence[dict], manifest: Path) -> list[str]:
  """One line per finished row (rows_from_manifest) the grid would call stale, naming its file
  and why, then one per table (sweep point) whose records come from different data.

  An entry with its config file and overrides is checked by `stale_reason` against the config
  its spec gives now, as the grid does; older entries by `_old_manifest_refusals`."""
  lines, old = [], []
  for r in rows:
    if not r.get("results"):
      continue
    spec = manifest_spec(r["run"])
    if spec is None:
      old.append(r)
      continue
    try:
      cfg = spec.config()
    except (OSError, ValueError, KeyError, TypeError) as e:
      lines.append(f"{manifest}: run {r['name']}: its config cannot be rebuilt "
                   f"({type(e).__name__}: {e})")
      continue
    why = stale_reason(r["results"], cfg, str(r["path"]))
    if why:
      lines.append(f"{why}, not the grid's run {r['name']}: the grid calls it stale (rerun the "
                   "grid, or delete it)")
  return lines + _old_manifest_refusals(old) + _mixed_data(rows)


def _point(sweep: dict) -> str:
  return " at " + ", ".join(f"{k} = {v}" for k, v in sweep.items()) if sweep else ""


def _old_manifest_refusals(rows: Sequence[dict]) -> list[str]:
  """Finished rows of manifest entries without config file and overrides (grids run before
  grid.json kept them), whose spec cannot be rebuilt: a record is refused when it is not a run
  record, when its config differs from that of the other records of the same method and grid
  point (seed and `workdir.IGNORED` aside; the majority stands, and without a majority all of
  them are refused), or when its file name is not the run name its own config gives
  (`_name_mismatch`: method, preset, seed, the written-out fields, the grid point)."""
  lines, groups = [], {}
  for r in rows:
    config = r["results"].get("config")
    if not isinstance(config, dict):
      lines.append(f"{r['path']} is not a run record (no config)")
      continue
    why = _name_mismatch(r["run"], config)
    if why:
      lines.append(f"{r['path']}: {why}: the grid calls it stale (rerun the grid, or delete it)")
      continue
    key = (r["method"], json.dumps(r["run"]["sweep"], sort_keys=True, default=str))
    groups.setdefault(key, []).append(r)
  for members in groups.values():
    configs = [config_lib.backfill(r["results"]["config"]) for r in members]
    ignore = ("seed",) if members[0]["method"] in config_lib.IDW_METHODS else ("seed", "idw")
    keys = [json.dumps(workdir_lib._kept(workdir_lib.flatten(c), ignore), sort_keys=True)
            for c in configs]
    top, count = collections.Counter(keys).most_common(1)[0]
    majority = top if 2 * count > len(keys) else None
    for r, key, config in zip(members, keys, configs):
      if key == majority:
        continue
      other = next(c for k, c in zip(keys, configs) if k != key)
      other = {**other, "seed": config.get("seed")}
      diff = workdir_lib.config_diff(other, config)
      whose = "the other records" if majority else "another record"
      lines.append(f"{r['path']}: its config differs from {whose} of "
                   f"{r['method']}{_point(r['run']['sweep'])} ({diff}): the grid calls it "
                   "stale (rerun the grid, or delete it)")
  return lines


def _name_mismatch(run: dict, config: dict) -> str:
  """'' when the run's name is the one its stored config gives (specs.run_name's rules:
  <method>-<preset>-seed<s>, then -<leaf><value> of the READABLE and swept fields that differ
  from the defaults, in field order, then an optional -h<hash>), on what can be checked without
  the config file: the defaults of its time may differ from today's, so neither which fields
  are written out nor the hash is. The grid point's values must be the config's too."""
  flat = workdir_lib.flatten(config_lib.backfill(config))
  name, sweep = run["name"], run.get("sweep") or {}
  idw = run["method"] in config_lib.IDW_METHODS
  if flat.get("method") != run["method"] or flat.get("seed") != run["seed"]:
    return (f"it holds method {flat.get('method')!r} seed {flat.get('seed')}, the grid's run "
            f"{name} is {run['method']!r} seed {run['seed']}")
  for key, value in sweep.items():
    if (idw or not key.startswith("idw.")) and flat.get(key) != value:
      return f"it holds {key} = {flat.get(key)!r}, its grid point {key} = {value!r}"
  prefix = f"{flat['method']}-{flat.get('preset')}-seed{flat['seed']}"
  if not name.startswith(prefix):
    return f"its name {name} is not its config's {prefix}..."
  rest = name[len(prefix):]
  shown = sorted(k for k in set(specs_lib.READABLE) | set(sweep)
                 if idw or not k.startswith("idw."))
  for key in shown:
    part = f"-{key.rsplit('.', 1)[-1]}{specs_lib.fmt_value(flat.get(key))}"
    rest = rest.removeprefix(part)
  if not rest or re.fullmatch(r"-h[0-9a-f]{8}", rest):
    return ""
  wrong = next((k for k in shown if rest.startswith(f"-{k.rsplit('.', 1)[-1]}")), None)
  if wrong is not None:
    return f"its name says {rest.split('-')[1]}, its config holds {wrong} = {flat.get(wrong)!r}"
  return f"its name {name} is not one its config gives (from {rest!r} on)"


def _mixed_data(rows: Sequence[dict]) -> list[str]:
  """One line per table (sweep point) whose records carry different data fingerprints (those
  without one, made before fingerprints, count as any)."""
  groups: dict[str, tuple[dict, dict[str, list[str]]]] = {}
  for r in rows:
    fp = (r.get("results") or {}).get("data_fingerprint")
    if fp is not None:
      point = json.dumps(r["run"]["sweep"], sort_keys=True, default=str)
      groups.setdefault(point, (r, {}))[1].setdefault(fp, []).append(Path(r["path"]).name)
  lines = []
  for first, by_fp in groups.values():
    if len(by_fp) > 1:
      parts = "; ".join(f"{fp[:19]}...: {', '.join(names)}" for fp, names in by_fp.items())
      lines.append(f"{Path(first['path']).parent}: the records of one table"
                   f"{_point(first['run']['sweep'])} were made from different data ({parts}); "
                   "rerun the stale ones on one data file")
  return lines
