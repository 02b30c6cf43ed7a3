"""Old run configs read as today's: a stored config (results.json, a checkpoint, a committed
record) gets the fields added since it was written, with the values that keep that run's
behaviour, so that runs made before a field existed stay cached and resumable.

`config.backfill(saved)` is `upgrade(saved, config.base_config().to_dict())`; the driver, the
grid (`workdir.config_diff`) and `recommend` read stored configs through it.
"""

from __future__ import annotations

import copy

# Fields added after runs were made, with the value that gives those runs' behaviour where
# today's default (None for a field the preset table fills) does not.
BEFORE_FIELD = {
    "train.lr_schedule": "constant",
    "train.restore_best": True,
    "train.shuffle": True,
    "model.encoder": "pre_ln",
    "model.interest_pool": "plain",
    "model.item_tower": "mlp",
    "idw.wake_patience": 3,          # before: train.patience (see PATIENCE_FROM)
    "idw.calibration_patience": 3,
    "idw.wake_early_stop_metric": "",
    "idw.kde_covariance": "isotropic",
    "idw.weight_support": "all",
}
# Fields that, before they existed, took the value of another field of the same config: wake
# phases and calibration stopped early with the pretraining's train.patience.
PATIENCE_FROM = {"idw.wake_patience": "train.patience",
                 "idw.calibration_patience": "train.patience"}
# Fields removed since, with the value they always had in effect: a stored config holding that
# value compares equal to one without the field. (model.dropout, once declared and never applied,
# is a field again with default 0.0, so old records with or without it read as 0.0.)
REMOVED: dict = {}


def upgrade(saved: dict, defaults: dict) -> dict:
  """`saved` (a nested config dict) with every field of `defaults` (today's, nested) it lacks:
  the value of PATIENCE_FROM's source field, else BEFORE_FIELD's, else today's default (e.g.
  train.pack_windows False); REMOVED fields at their value dropped. A stored field is never
  changed, so an old run still differs from a config that sets a new field otherwise."""
  out = _fill(saved, defaults, "")
  for field, source in PATIENCE_FROM.items():
    value = _lookup(saved, source)
    if value is not None and _lookup(saved, field, _MISSING) is _MISSING:
      _parent(out, field)[field.rsplit(".", 1)[1]] = value
  for field, value in REMOVED.items():
    node, name = _parent(out, field), field.rsplit(".", 1)[1]
    if isinstance(node, dict) and node.get(name, value) == value:
      node.pop(name, None)
  return out


def _fill(have: dict, defaults: dict, prefix: str) -> dict:
  out = dict(have)
  for k, v in defaults.items():
    if k not in out:
      out[k] = BEFORE_FIELD.get(prefix + k, copy.deepcopy(v))
    elif isinstance(v, dict) and isinstance(out[k], dict):
      out[k] = _fill(out[k], v, f"{prefix}{k}.")
  return out


_MISSING = object()


def _lookup(d: dict, dotted: str, missing=None):
  """d's value at a dotted field; `missing` where a section or the field is absent."""
  for part in dotted.split("."):
    if not isinstance(d, dict) or part not in d:
      return missing
    d = d[part]
  return d


def _parent(d: dict, dotted: str):
  """The section dict that holds a dotted field (None where it is absent)."""
  section = dotted.rsplit(".", 1)[0]
  return _lookup(d, section)
