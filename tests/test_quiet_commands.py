"""A command that succeeds prints what the user asked for: no false SDL error, no library deprecation notice,
and no file the user did not ask for in the current folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
FAST_RLLIB = Path(sys.executable).parent / "fast-rllib"


def _run(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "XDG_RUNTIME_DIR"}
    return subprocess.run(
        [str(FAST_RLLIB), *arguments], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=environment
    )


def test_rendering_prints_no_false_sdl_error(tmp_path: Path) -> None:
    """Frames are rendered through SDL, which prints "error: XDG_RUNTIME_DIR is invalid or not set" when the
    variable is missing although rendering works (``score`` renders the same way; where ``score`` writes its
    chart is tested in process, tests/test_safe_entries.py)."""
    picture = tmp_path / "pictures" / "racetrack.png"
    finished = _run(tmp_path, "frames", "--task", "fast/racetrack-v0", "--steps", "8", "--out", str(picture))
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == "" and picture.stat().st_size > 0


def test_repo_show_builds_a_module_without_rllibs_deprecation_notice(tmp_path: Path) -> None:
    finished = _run(tmp_path, "repo", "show", "racetrack-v0")
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == "" and "pi_encoder.net.mlp.0.weight" in finished.stdout
