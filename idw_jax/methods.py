"""The methods of Table 1 in one table: what each changes about the model, the loss and the run.

A new method is one `Method` row here (plus, if it needs one, a new kind of loss term in
`losses.py`); config.finalize, the trainer's loss tables, the driver's phases and the result
tables all read this table.
"""

from __future__ import annotations

import dataclasses

ITEM_NORMS = ("none", "train_eval", "eval")


@dataclasses.dataclass(frozen=True)
class Method:
  """One row of Table 1.

  name: the config value (config.method). title: the row name in tables and figures.
  num_interests: M (1 = a single user representation; None = model.num_interests, default 5:
    config.TABLE).
  pretrain_weight: per-item loss weight of the pretraining phase: "none" (Eq. 3) or "uniform"
    (Frequency Balance: every item the same share of the loss).
  focal: Focal balance's (1 - p)^gamma factor (loss.focal_gamma).
  margin: Qmargin's per-item LDAM margin (loss.qmargin_max).
  item_norm: one of ITEM_NORMS: "none", "train_eval" (Item Norm: L2-normalised item embeddings in
    training and ranking) or "eval" (post-hoc: in ranking only); also config.model.item_norm.
  idw_base: for IDW methods, the method whose whole run is the pretraining (then the run goes
    on with SLEEP / WAKE and CALIBRATE); None for every other method.
  color: matplotlib colour in figures.
  """

  name: str
  title: str
  num_interests: int | None = None
  pretrain_weight: str = "none"
  focal: bool = False
  margin: bool = False
  item_norm: str = "none"
  idw_base: str | None = None
  color: str = "tab:gray"

  @property
  def is_idw(self) -> bool:
    return self.idw_base is not None


TABLE = (
    Method("sur", "SUR", num_interests=1, color="tab:blue"),
    Method("mur", "MUR", color="tab:orange"),
    Method("freq_balance", "Frequency Balance", pretrain_weight="uniform", color="tab:gray"),
    Method("focal", "Focal Balance", focal=True, color="tab:brown"),
    Method("qmargin", "Qmargin", margin=True, color="tab:red"),
    Method("item_norm", "Item Norm", item_norm="train_eval", color="tab:purple"),
    Method("item_norm_posthoc", "Item Norm (Post-hoc)", item_norm="eval", color="tab:pink"),
    Method("sur_idw", "SUR-IDW", num_interests=1, idw_base="sur", color="tab:olive"),
    Method("mur_idw", "MUR-IDW", idw_base="mur", color="tab:green"),
)
BY_NAME = {m.name: m for m in TABLE}
NAMES = tuple(BY_NAME)                                   # Table 1 order


def get(name: str) -> Method:
  """The method called `name`; an unknown name is an error listing the known ones."""
  if name not in BY_NAME:
    raise ValueError(f"config.method must be one of {NAMES}, got {name!r}")
  return BY_NAME[name]
