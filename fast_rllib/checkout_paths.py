"""Paths as results files should record them: relative to the checkout, never a machine's absolute path.

A results file is committed and read on other machines; ``/home/alice/src/fast-rllib/fast_rllib/zoo`` says
nothing there and leaks where someone keeps their files. Inside the checkout a path is written relative to
its root (``fast_rllib/zoo``); outside it only its last component is kept, marked as such.
"""

from __future__ import annotations

from pathlib import Path

CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def checkout_relative(path: str | Path) -> str:
    """``path`` relative to the checkout root (POSIX separators), or ``<outside the checkout>/<name>``."""
    resolved = Path(path).expanduser().resolve()
    try:
        return resolved.relative_to(CHECKOUT_ROOT).as_posix() or "."
    except ValueError:
        return f"<outside the checkout>/{resolved.name}"
