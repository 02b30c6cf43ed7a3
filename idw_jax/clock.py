"""The driver's clocks: a run's seconds across resumes, and the parts of one step's seconds.

Like big_vision's `Chrono`, the loop never computes a duration itself: it asks `RunClock` for
the run's seconds and wraps the parts of a step (an epoch: steps, validation, checkpoints,
logs) in `with watch("part"):`.
"""

from __future__ import annotations

import contextlib
import time


class RunClock:
  """Run seconds: `before` (the seconds of earlier processes, from the checkpoint) plus this
  process's wall seconds since the clock was made."""

  def __init__(self, before: float = 0.0):
    self.before, self._t0 = before, time.time()

  def __call__(self) -> float:
    return self.before + (time.time() - self._t0)


class Stopwatch:
  """The seconds of one step (an epoch, a sleep, the evaluation) and of its named parts."""

  def __init__(self):
    self._start, self.parts = time.perf_counter(), {}

  @contextlib.contextmanager
  def __call__(self, part: str):
    """Adds the seconds of the `with` block to `part`."""
    t0 = time.perf_counter()
    try:
      yield
    finally:
      self.parts[part] = self.parts.get(part, 0.0) + time.perf_counter() - t0

  def total(self) -> float:
    """Seconds since the stopwatch was made."""
    return time.perf_counter() - self._start

  def split(self, *parts: str) -> dict:
    """{"total", each of `parts` (0 where not timed), "other": the rest of total}."""
    total = self.total()
    named = {p: self.parts.get(p, 0.0) for p in parts}
    return {"total": total, **named, "other": total - sum(named.values())}
