"""Command-line plumbing shared by launch.py and the experiment commands: a user error (a
mistyped or impossible config field, a missing file, bad data, a diverged run) ends in one line
on stderr and a non-zero exit code; --debug shows the traceback instead."""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import Callable

from absl import flags

# Errors that come from what the user asked for (a config value, a path, the data, a workdir
# in use or holding another run, a diverged run): one line, not a traceback.
USER_ERRORS = (ValueError, KeyError, OSError, FloatingPointError, RuntimeError)


def one_line(e: BaseException) -> str:
  """An exception's message on one line (ml_collections quotes and splits its own, and wraps
  an error raised in a config file's get_config with its traceback: only the first line and
  the final exception's message are kept)."""
  text = str(e.args[0]) if len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
  text = text.replace("\\n", "\n").replace("\\'", "'")
  if "Traceback (most recent call last):" in text:
    head = text.split("Traceback (most recent call last):", 1)[0].strip()
    last = [ln for ln in text.splitlines() if re.match(r"^\w+(Error|Exception): ", ln)]
    text = f"{head} {last[-1].split(': ', 1)[1]}" if last else head
  text = text.replace("\n", " ").strip()
  if len(text) > 1 and text[0] == text[-1] == "'":   # a KeyError's repr
    text = text[1:-1]
  return " ".join(text.split())


def _name() -> str:
  return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "idw_jax"


_DEBUG_FLAGS = ("--debug", "--debug=true", "--debug=True")


def _debug(argv) -> bool:
  return any(a in _DEBUG_FLAGS for a in argv)


def fail(e: BaseException, code: int):
  print(f"{_name()}: error: {one_line(e)} (--debug shows the traceback)", file=sys.stderr)
  sys.exit(code)


def define_config_flag(default: str, help_text: str):
  """--config (an ml_collections config file, lock_config=True). ml_collections applies the
  --config.a.b overrides while defining it, so a mistyped field fails here, in one line."""
  from ml_collections import config_flags
  try:
    return config_flags.DEFINE_config_file("config", default, help_text, lock_config=True)
  except Exception as e:  # pylint: disable=broad-except
    if _debug(sys.argv):
      raise
    fail(e, 2)


def define_debug_flag():
  return flags.DEFINE_bool("debug", False, "Show the full traceback of a user error (bad config "
                           "field, path or data) instead of one line.")


def parse_flags(argv):
  """absl flag parsing with a mistyped flag reported in one line."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    if _debug(argv):
      raise
    fail(e, 2)


def user_errors_in_one_line(main: Callable) -> Callable:
  """Wraps an absl main: USER_ERRORS become one line and exit code 1 (unless --debug)."""
  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except USER_ERRORS as e:
      if flags.FLAGS["debug"].value if "debug" in flags.FLAGS else False:
        raise
      fail(e, 1)
  return wrapped


def run_argparse(main: Callable[[list], int]) -> int:
  """For the argparse commands (recommend, export): main(argv) with USER_ERRORS in one line
  and exit code 1; --debug anywhere on the command line shows the traceback instead."""
  argv = sys.argv[1:]
  try:
    return main([a for a in argv if a not in _DEBUG_FLAGS])
  except USER_ERRORS as e:
    if _debug(argv):
      raise
    fail(e, 1)


def run(main: Callable):
  """absl.app.run(main) with user errors in one line."""
  from absl import app
  app.run(user_errors_in_one_line(main), flags_parser=parse_flags)
