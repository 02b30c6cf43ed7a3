"""The phases of a run, as its checkpoints' meta and results.json name them.

  PRETRAIN -> (SLEEP -> converged? -> WAKE)* -> CALIBRATE -> EVALUATE -> DONE

The driver moves a run through them; readers of a run folder (idw_jax.recommend) ask where a
run stands without importing the driver.
"""

from __future__ import annotations

PRETRAIN, SLEEP, WAKE, CALIBRATE, EVALUATE, DONE = (
    "pretrain", "sleep", "wake", "calibrate", "evaluate", "done")
