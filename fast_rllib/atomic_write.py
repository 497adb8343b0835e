"""Writing one file so that a reader sees the old version or the new one, never half of either.

Benchmarks run for hours and can be stopped at any moment; builds write reports that later runs read. Every
file the project writes outside the source repository (which has its own staged, verified writes in
:mod:`fast_rllib.repository.writing`) goes through :func:`write_atomically`: the content goes to a hidden
temporary beside the target (same folder, so same file system) and is renamed over it only once complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call ``write(temporary)`` and then rename the temporary over ``path``.

    The temporary is named ``.<name>.tmp``: hidden, and never matched by a ``*.parquet`` or ``*.png`` glob
    that collects finished files. A writer that picks its format from the file name must be told the format
    (``savefig(..., format="png")``). If ``write`` raises, the temporary is removed and ``path`` is left as
    it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write(temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(path: str | Path, text: str) -> None:
    write_atomically(path, lambda temporary: temporary.write_text(text))


def write_json_atomically(path: str | Path, payload: Any, indent: int = 1) -> None:
    """``payload`` as indented JSON with a final newline (readable in a diff of a results folder)."""
    write_text_atomically(path, json.dumps(payload, indent=indent) + "\n")
