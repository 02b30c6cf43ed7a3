"""A preset config as data: the fields a dataset sets on `config.base_config()`, the config-arg
variants of its own and what `tiny` adds for it to `config.tiny_fields` (TINY, and on real data
TINY_REAL: the first 200 users). `Dataset.config(arg)` is the
config of `launch.py --config=configs/<name>.py:arg`."""

from __future__ import annotations

import dataclasses

import ml_collections

from idw_jax import config as config_lib


@dataclasses.dataclass(frozen=True)
class Dataset:
  """fields: {dotted field: value} on top of base_config; variants: {arg word: fields}, applied
  in this order after the method and preset (e.g. ml1m_loo's `sasrec`); tiny: fields `tiny`
  sets besides config.TINY (applied last, so a tiny variant stays tiny)."""
  fields: dict
  variants: dict = dataclasses.field(default_factory=dict)
  tiny: dict = dataclasses.field(default_factory=dict)

  def config(self, arg: str | None = None) -> ml_collections.ConfigDict:
    """The unfinalized config of arg = "method[,preset][,variant...][,tiny]"; an unknown word
    is a one-line ValueError listing what the arg takes."""
    parts = [a.strip() for a in (arg or "").split(",") if a.strip()]
    own = [*self.variants, "tiny"]   # tiny last, so a tiny variant stays tiny
    c = config_lib.get_config_for(self.fields, ",".join(p for p in parts if p not in own))
    for word in own:
      if word in parts:
        fields = (self.variants[word] if word != "tiny" else
                  {**config_lib.tiny_fields(c.data.source), **self.tiny})
        for field, value in fields.items():
          config_lib.set_field(c, field, value)
    return c
