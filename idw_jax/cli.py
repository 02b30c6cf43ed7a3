"""Command-line plumbing shared by every entry point (launch.py, the experiment commands,
recommend, export, the benchmarks): absl flags, `--help` that exits 0 and lists the command's
flags, and a user error (a mistyped or impossible config field, an unknown flag, a missing
file, bad data, a diverged run) in one line on stderr with a non-zero exit code; --debug shows
the traceback instead.

A command defines its flags when it runs as a program (in its `__main__` block or a function
called from there, never at import, so that commands can import each other's functions) and
hands its main to `run`:

  if __name__ == "__main__":
    _define_flags()
    cli.run(main)                # main(argv): argv[1:] are the positional arguments

`--help` (-h, -?, --helpshort) prints the program's docstring and its flags; --helpfull adds
absl's own (logging) flags.
"""

from __future__ import annotations

import errno
import functools
import logging
import re
import sys
from pathlib import Path
from typing import Callable, Sequence

from absl import flags

# Errors that come from what the user asked for (a config value, a path, the data, a workdir
# in use or holding another run, a diverged run): one line, not a traceback.
USER_ERRORS = (ValueError, KeyError, OSError, FloatingPointError, RuntimeError)
HELP = ("--help", "-help", "-h", "--helpshort", "-helpshort", "-?", "--?")
HELP_FULL = ("--helpfull", "-helpfull")
_ROOT = Path(__file__).resolve().parents[1]


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


def disk_full(e: BaseException | None) -> bool:
  """Whether an error, or one it was raised from or during, is a full disk: ENOSPC, or its text
  in tensorstore's words (Orbax's array writes)."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if ((isinstance(e, OSError) and e.errno == errno.ENOSPC)
        or "No space left on device" in str(e) or "os_error_code='28'" in str(e)):
      return True
    e = e.__cause__ or e.__context__
  return False


class _QuietDiskFull(logging.Filter):
  """Drops the log records (and unraisable-exception printouts) that a full disk sets off in
  Orbax's background threads: a traceback per array and thread, hundreds of lines, before and
  after the one line the command ends with. Everything else passes. The 'Event loop is closed'
  errors that its cancelled writes leave behind may come before the full disk is seen: they are
  held back, dropped once a full disk has been seen, and shown at exit when none was."""

  seen = False
  held: list = []   # (emit, item) of 'Event loop is closed' seen before any full disk

  def noise(self, exc: BaseException | None, text: str = "") -> bool:
    if disk_full(exc) or "No space left on device" in text:
      _QuietDiskFull.seen = True
      _QuietDiskFull.held.clear()
      return True
    return "Event loop is closed" in f"{exc} {text}"

  def filter(self, record: logging.LogRecord) -> bool:
    if getattr(record, "released", False):
      return True
    exc = record.exc_info[1] if record.exc_info else None
    if not self.noise(exc, record.getMessage()):
      return True
    if not self.seen and not any(item is record for _, item in self.held):
      self.held.append((logging.getLogger(record.name).handle, record))
    return False

  def unraisablehook(self, hook):
    """sys.unraisablehook `hook` that skips the noise (tensorstore reports a write that ends
    after Orbax closed its event loop as an unraisable exception)."""
    def quiet_hook(unraisable):
      if not self.noise(unraisable.exc_value):
        hook(unraisable)
      elif not self.seen:
        self.held.append((hook, unraisable))
    quiet_hook.quiet_disk_full = True
    return quiet_hook

  @classmethod
  def release(cls):
    """At exit: shows what was held back unless a full disk explained it."""
    held, cls.held = list(cls.held), []
    for emit, item in held if not cls.seen else ():
      if isinstance(item, logging.LogRecord):
        item.released = True
      emit(item)


def quiet_disk_full():
  """Keeps Orbax's tracebacks of a full disk off stderr (absl's log handler, the root logger's
  handlers, unraisable exceptions): the command's own one-line error says it."""
  import atexit
  from absl import logging as absl_logging
  quiet = _QuietDiskFull()
  for handler in {absl_logging.get_absl_handler(), *logging.getLogger().handlers}:
    if not any(isinstance(f, _QuietDiskFull) for f in handler.filters):
      handler.addFilter(quiet)
  if not getattr(sys.unraisablehook, "quiet_disk_full", False):
    sys.unraisablehook = quiet.unraisablehook(sys.unraisablehook)
    atexit.register(_QuietDiskFull.release)


def _name() -> str:
  return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "idw_jax"


_DEBUG_FLAGS = ("--debug", "--debug=true", "--debug=True")


def _debug(argv) -> bool:
  return any(a in _DEBUG_FLAGS for a in argv)


def fail(e: BaseException | str, code: int, hint: str = "--debug shows the traceback"):
  text = e if isinstance(e, str) else one_line(e)
  print(f"{_name()}: error: {text} ({hint})", file=sys.stderr)
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
    fail(no_such_field(e, sys.argv) or e, 2)


def define_debug_flag():
  return flags.DEFINE_bool("debug", False, "Show the full traceback of a user error (bad config "
                           "field, path or data) instead of one line.")


def _ours(module: str) -> bool:
  """Whether a module's flags are the command's: the program itself (absl keys it by
  sys.argv[0]) and this repository's modules, not a library's (absl logging, Orbax)."""
  path = getattr(sys.modules.get(module), "__file__", None) or module
  path = Path(path).resolve()
  return path.is_relative_to(_ROOT) and "site-packages" not in path.parts


def help_text(full: bool = False) -> str:
  """The running program's docstring, then its flags: those defined by the program and by this
  repository's modules it asked to define them (e.g. --config, --debug here); every library's
  too when full."""
  main = sys.modules.get("__main__")
  doc = (getattr(main, "__doc__", None) or "").strip()
  parts = []
  for module in flags.FLAGS.flags_by_module_dict():
    if full or _ours(module):
      # module_help's lines, without the module's name (the lines not indented)
      parts += [ln for ln in flags.FLAGS.module_help(module).splitlines() if ln.startswith(" ")]
  return f"{doc}\n\nflags:\n" + "\n".join(parts) + "\n"


def no_such_field(e: BaseException, argv: Sequence[str]) -> str | None:
  """The line for a --config.a.b=v override of a field the config lacks, naming its whole path
  (ml_collections' KeyError names the last part only: 'weight_decay'), with its suggestion
  when it has one; None for any other error."""
  if not isinstance(e, (KeyError, AttributeError)):
    return None
  m = re.fullmatch(r"[\"']*([\w-]+)[\"']*(.*)", one_line(e))
  if not m:
    return None
  name, rest = m.groups()
  for arg in argv[1:]:
    over = re.match(r"--config\.([\w.-]+)(=|$)", arg)
    if over and name in over.group(1).split("."):
      path, like = over.group(1), re.search(r'Did you mean "([\w-]+)"', rest)
      parent = path.rpartition(".")[0]
      where = parent + "." if parent else ""
      tip = f"; Did you mean config.{where}{like.group(1)}?" if like else ""
      return f"config.{path}: the config has no such field ({arg}){tip}"
  return None


def _unknown_flag(e: flags.UnrecognizedFlagError) -> str:
  known = [s for s in str(e).split("Did you mean: ", 1)[1:]]
  tip = f"; did you mean --{known[0].rstrip(' ?')}?" if known else ""
  return f"unknown option {e.flagvalue or '--' + e.flagname!r}{tip}"


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl flag parsing: --help prints help_text and exits 0; a mistyped flag or a bad value is
  one line and exit code 2. Returns argv[0] and the positional arguments."""
  args = list(argv[1:])
  args = args[:args.index("--")] if "--" in args else args
  if any(a in HELP or a in HELP_FULL for a in args):
    print(help_text(full=any(a in HELP_FULL for a in args)), end="")
    sys.exit(0)
  try:
    return flags.FLAGS(list(argv))
  except flags.UnrecognizedFlagError as e:
    if _debug(argv):
      raise
    fail(_unknown_flag(e), 2, "--help lists the flags")
  except Exception as e:  # pylint: disable=broad-except
    if _debug(argv):
      raise
    fail(no_such_field(e, argv) or e, 2)


def user_errors_in_one_line(main: Callable) -> Callable:
  """Wraps an absl main: USER_ERRORS become one line and exit code 1 (unless --debug)."""
  @functools.wraps(main)
  def wrapped(argv):
    from absl import logging as absl_logging
    if "verbosity" in flags.FLAGS and not flags.FLAGS["verbosity"].present:
      absl_logging.set_verbosity(absl_logging.WARNING)   # Orbax logs every checkpoint at INFO
    try:
      return main(argv)
    except USER_ERRORS as e:
      if flags.FLAGS["debug"].value if "debug" in flags.FLAGS else False:
        raise
      fail(e, 1)
  return wrapped


def run(main: Callable[[list[str]], int | None]):
  """absl.app.run(main) with --help exiting 0 and user errors in one line; defines --debug
  when the command has not."""
  from absl import app
  if "debug" not in flags.FLAGS:
    define_debug_flag()
  quiet_disk_full()
  app.run(user_errors_in_one_line(main), flags_parser=parse_flags)
