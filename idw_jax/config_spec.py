"""Config fields declared with what they may hold, so a field's check sits beside its default.

`config._declared()` assigns a plain default or a `Spec` to each field: `one_of(CHOICES, default)`,
`within("[lo, hi)", default)` or `from_table(type)`. A Spec whose default is a type has no
default of its own: the preset table (config.TABLE) fills it. `defaults()` turns the
declaration into the ConfigDict of defaults (None, typed, for those), `specs()` lists the Specs
for `config.finalize` to check.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator
from typing import Any

import ml_collections
from ml_collections import config_dict


@dataclasses.dataclass(frozen=True)
class Spec:
  """A field's default (a value, or a type: TABLE gives the value) and the values it may take:
  `choices`, or an `interval` such as "[0, 1)" or "(0, inf)"."""
  default: Any
  choices: tuple = ()
  interval: str = ""

  def check(self, field: str, value: Any):
    """A one-line ValueError naming `field` unless `value` is allowed."""
    if value is None:
      raise ValueError(f"config.{field}: has no value (TABLE has no row for it)")
    if self.choices and value not in self.choices:
      raise ValueError(f"config.{field}: must be one of {self.choices}, got {value!r}")
    if self.interval:
      lo_open, lo, hi, hi_open = re.fullmatch(r"([\[(])(.+),(.+)([\])])", self.interval).groups()
      above = value > float(lo) if lo_open == "(" else value >= float(lo)
      below = value < float(hi) if hi_open == ")" else value <= float(hi)
      if not (above and below):
        want = (f"{'>' if lo_open == '(' else '>='} {lo.strip()}" if math.isinf(float(hi))
                else f"in {self.interval}")
        raise ValueError(f"config.{field}: must be {want}, got {value}")


def from_table(type_: type) -> Spec:
  """A field TABLE fills, with no constraint beyond its type."""
  return Spec(type_)


def one_of(choices: tuple, default: Any = str) -> Spec:
  """A field that must be one of `choices` (default: a value, or str: TABLE fills it)."""
  return Spec(default, choices=tuple(choices))


def within(interval: str, default: Any) -> Spec:
  """A number in `interval`, e.g. "[0, 1)" or "[1, inf)" (default: a value, or int or float:
  TABLE fills it)."""
  return Spec(default, interval=interval)


def defaults(declared: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The declaration with each Spec replaced by its default (a typed None for a type)."""
  out = ml_collections.ConfigDict()
  for key, value in declared.items():
    if isinstance(value, ml_collections.ConfigDict):
      value = defaults(value)
    elif isinstance(value, Spec):
      value = (config_dict.placeholder(value.default) if isinstance(value.default, type)
               else value.default)
    out[key] = value
  return out


def specs(declared: ml_collections.ConfigDict) -> dict[str, Spec]:
  """{dotted field: Spec} of the declaration, in field order."""
  return dict(_walk(declared, ""))


def _walk(node, prefix: str) -> Iterator[tuple[str, Spec]]:
  for key, value in node.items():
    if isinstance(value, ml_collections.ConfigDict):
      yield from _walk(value, f"{prefix}{key}.")
    elif isinstance(value, Spec):
      yield f"{prefix}{key}", value
