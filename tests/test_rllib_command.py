"""The `rllib` console script runs each tuned example through Tune, with the shipped source repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fast_rllib.rllib_command import load_tuned_example, main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parent.parent
RLLIB = Path(sys.executable).parent / "rllib"
# One short iteration: learning starts early so that an update happens within it.
QUICK = {"min_sample_timesteps_per_iteration": 160, "num_steps_sampled_before_learning_starts": 64}


def _rllib_train(example: str, tmp_path: Path, **config: object) -> str:
    command = [
        str(RLLIB), "train", "file", str(ROOT / "tuned_examples" / example),
        "--stop", json.dumps({"training_iteration": 1}),
        "--config", json.dumps({**QUICK, **config}),
        "--storage-path", str(tmp_path),
        "--checkpoint-at-end",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stdout


@pytest.mark.parametrize("example", ["fast_racetrack.py", "sac_racetrack.py"])
def test_tuned_example_runs(example: str, tmp_path: Path) -> None:
    stdout = _rllib_train(example, tmp_path)
    assert stdout.count("trial finished: iterations=1") == 1
    assert "checkpoint=" in stdout and "checkpoint=None" not in stdout


def test_grid_example_runs_one_trial_per_threshold(tmp_path: Path) -> None:
    stdout = _rllib_train("fast_racetrack_grid.py", tmp_path, similarity_interval=100)
    assert stdout.count("trial finished: iterations=1") == 3


def test_grid_example_searches_threshold_and_interval() -> None:
    config, stop = load_tuned_example(ROOT / "tuned_examples" / "fast_racetrack_grid.py")
    assert config.similarity_threshold == {"grid_search": [0.3, 0.4, 0.5]}
    assert config.similarity_interval == {"grid_search": [100, 1000, 5000]}
    tuned, tuned_stop = load_tuned_example(ROOT / "tuned_examples" / "fast_racetrack.py")
    assert config.hand_back and config.hand_back == tuned.hand_back and config.modality == tuned.modality
    assert stop == tuned_stop == {"num_env_steps_sampled_lifetime": 20_000}


def test_missing_file_and_missing_config_are_named(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit, match=r"rllib: tuned-example file '.*nowhere.py' does not exist"):
        main(["train", "file", str(tmp_path / "nowhere.py")])
    empty = tmp_path / "empty.py"
    empty.write_text("stop = {'training_iteration': 1}\n")
    with pytest.raises(SystemExit, match=r"must define a module-level `config` \(an AlgorithmConfig\); found nothing"):
        main(["train", "file", str(empty)])


def test_bad_stop_json_is_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--stop must be a JSON object"):
        main(["train", "file", str(ROOT / "tuned_examples" / "sac_racetrack.py"), "--stop", "[1, 2]"])
