"""A fingerprint of a directory tree, to show that a failed or interrupted write changed nothing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and folder under root (hidden ones too) with a hash of its bytes."""
    digest = {}
    for folder, subfolders, files in os.walk(root):
        for name in subfolders:
            digest[os.path.relpath(os.path.join(folder, name), root) + "/"] = "dir"
        for name in files:
            path = os.path.join(folder, name)
            digest[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return digest
