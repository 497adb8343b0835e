"""``fast-rllib repo build`` as a user runs it (a subprocess): it trains, shows progress, stores a loadable
source, resumes by skipping finished entries, and an interrupted build leaves the repository untouched.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fast_rllib.build.recording import add_source
from fast_rllib.repository import SourceRepository
from directory_digest import tree_digest
from tiny_repository import tiny_module

TASK_ID = "fast/racetrack-v0"
ENTRY = "racetrack-v0"
BUILD = [sys.executable, "-m", "fast_rllib.commands.fast_rllib_cli", "repo", "build", "--tasks", TASK_ID]
# A tiny budget: one evaluation of one episode after 64 env steps, two recorded episodes, 2 stacks each.
TINY = ["--max-env-steps", "64", "--evaluate-every", "64", "--evaluation-episodes", "1", "--episodes", "2", "--keep", "2",
        "--stacks-per-episode", "2"]
PROGRESS = re.compile(rf"^{re.escape(TASK_ID)}: (\d+) env steps, return -?\d+\.\d \(goal \d+\.\d, \d+ s\)$", re.M)
BUILD_TIMEOUT_S = 600

pytestmark = [pytest.mark.slow, pytest.mark.extended]


def _build(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BUILD, "--out", str(out), *TINY, *extra], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
    )


def test_build_trains_and_stores_a_source_then_skips_it_when_resumed(tmp_path: Path) -> None:
    out = tmp_path / "repo"
    first = _build(out)
    assert first.returncode == 0, first.stderr[-3000:]
    progress = PROGRESS.findall(first.stdout)
    assert progress and int(progress[-1]) >= 64, first.stdout
    assert f"stored {ENTRY!r}" in first.stdout

    entry = SourceRepository.load(out)[ENTRY]
    assert entry.task_id == TASK_ID and entry.info["training_env_steps"] >= 64
    assert entry.info["stacks_per_episode"] == 2 and 2 <= len(entry.frames) <= 4  # short episodes give fewer
    assert entry.frames.shape[1:] == (4, 96, 96) and entry.frames.max() > entry.frames.min()
    assert entry.info["controller_return"] > entry.info["random_return"]

    before = tree_digest(out)
    again = _build(out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"entry {ENTRY!r} exists, skipped" in again.stdout and not PROGRESS.search(again.stdout)
    assert tree_digest(out) == before


def test_an_interrupted_build_leaves_the_repository_byte_identical(tmp_path: Path) -> None:
    """Ctrl-C while ``--overwrite`` retrains an existing entry: the old entry must survive untouched."""
    out = tmp_path / "repo"
    add_source(out, tiny_module(TASK_ID, seed=0), TASK_ID, episodes=2, keep=2, frame_size=32, baseline_episodes=0)
    before = tree_digest(out)
    log = tmp_path / "build.log"
    with log.open("w") as stdout:
        build = subprocess.Popen(
            [*BUILD, "--out", str(out), *TINY, "--max-env-steps", "100000", "--overwrite"],
            stdout=stdout, stderr=subprocess.STDOUT, text=True,
        )
        try:
            deadline = time.monotonic() + BUILD_TIMEOUT_S
            while not PROGRESS.search(log.read_text()):
                assert build.poll() is None, f"the build ended before training:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, "no training progress within the timeout"
                time.sleep(1)
            build.send_signal(signal.SIGINT)
            assert build.wait(timeout=120) != 0
        finally:
            if build.poll() is None:
                build.kill()
                build.wait()
    assert tree_digest(out) == before
