"""Where the shared real-data folder is, for tests that need it: skip when absent, fail under CI.

The folder is `<repo>/../shared/data` (override with env var IDW_DATA_DIR). It is not part of
the repository; on a machine without it the real-data tests are skipped, except under CI
(CI=true), where a missing folder must fail the run instead of passing it silently.
"""

import os
from pathlib import Path

import pytest

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data_dir(*required: str) -> Path:
  """The shared data folder, with each of `required` (relative paths) present in it.

  Calls pytest.skip when something is missing, or pytest.fail when env var CI is "true".
  """
  root = Path(os.environ.get("IDW_DATA_DIR") or DEFAULT_DATA_DIR)
  missing = [str(root / r) for r in required if not (root / r).exists()]
  if not root.is_dir():
    missing = [str(root)]
  if missing:
    reason = (f"shared data folder is missing: {', '.join(missing)} not found (set IDW_DATA_DIR "
              "to the folder holding ml-1m/ etc.)")
    if os.environ.get("CI", "").lower() == "true":
      pytest.fail(reason)
    pytest.skip(reason)
  return root
