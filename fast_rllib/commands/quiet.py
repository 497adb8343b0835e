"""Keep a command's output to what the user asked for: no false errors, no library deprecation notices.

Two kinds of noise reach a user who did nothing wrong:

* SDL (through pygame, which highway-env renders frames with) prints ``error: XDG_RUNTIME_DIR is invalid or
  not set in the environment`` when the variable is missing, although off-screen rendering works. Pointing
  it at a private temporary folder is what a desktop session would do; the video driver is left alone.
* RLlib 2.60 logs ``DeprecationWarning: RLModule(config=...)`` from its own constructor whenever a module
  is built, and libraries emit Python ``DeprecationWarning``\\ s meant for their developers.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import stat
import tempfile
import warnings
from pathlib import Path


def private_runtime_dir() -> None:
    """Set ``XDG_RUNTIME_DIR`` to a fresh owner-only temp folder (removed at exit) unless it names a usable
    one already."""
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current:
        try:
            info = Path(current).stat()
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077:
                return
        except OSError:
            pass
    runtime_dir = tempfile.mkdtemp(prefix="fast-rllib-runtime-")  # mkdtemp: mode 0o700, as the spec wants
    atexit.register(shutil.rmtree, runtime_dir, ignore_errors=True)
    os.environ["XDG_RUNTIME_DIR"] = runtime_dir


class _DropDeprecations(logging.Filter):
    """Drops RLlib's logged ``DeprecationWarning: ...`` lines (its own internals, not the user's code)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("DeprecationWarning")


def quiet_library_noise() -> None:
    """Called once at the start of a command, before Ray or pygame are imported by it."""
    private_runtime_dir()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # Ray's deprecation_warning() logs through this logger (a filter acts where a record is created).
    logger = logging.getLogger("ray._common.deprecation")
    if not any(isinstance(existing, _DropDeprecations) for existing in logger.filters):
        logger.addFilter(_DropDeprecations())
