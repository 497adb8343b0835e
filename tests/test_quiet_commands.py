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


def test_score_prints_no_false_error_and_writes_its_chart_where_asked(tmp_path: Path) -> None:
    """Rendering the target's frames goes through SDL, which complains without XDG_RUNTIME_DIR."""
    chart = tmp_path / "charts" / "indiana.png"
    finished = _run(tmp_path, "score", "--task", "fast/indiana-v0", "--stacks", "1", "--output", str(chart))
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == "" and "racetrack-oval-v0" in finished.stdout
    assert chart.stat().st_size > 0 and f"saved the chart to {chart}" in finished.stdout
    assert [path.name for path in tmp_path.iterdir()] == ["charts"]


def test_repo_show_builds_a_module_without_rllibs_deprecation_notice(tmp_path: Path) -> None:
    finished = _run(tmp_path, "repo", "show", "racetrack-v0")
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == "" and "pi_encoder.net.mlp.0.weight" in finished.stdout
