"""The `rllib` console script runs each tuned example through Tune, with the shipped source repository."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fast_rllib.commands.progress import iteration_line
from fast_rllib.commands.rllib_cli import JSON_EXAMPLES, apply_overrides, check_config_keys, load_tuned_example, main
from fast_rllib.repository import DEFAULT_REPOSITORY

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parent.parent
RLLIB = Path(sys.executable).parent / "rllib"
# One short iteration: learning starts early so that an update happens within it.
QUICK = {"min_sample_timesteps_per_iteration": 160, "num_steps_sampled_before_learning_starts": 64}


def _run_rllib(example: str, tmp_path: Path, config: dict, *options: str) -> subprocess.CompletedProcess:
    command = [
        str(RLLIB), "train", "file", str(ROOT / "tuned_examples" / example),
        "--stop", json.dumps({"training_iteration": 1}),
        "--config", json.dumps(config),
        "--storage-path", str(tmp_path / "results"),
        *options,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)


def _rllib_train(example: str, tmp_path: Path, **config: object) -> str:
    finished = _run_rllib(example, tmp_path, {**QUICK, **config})
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stdout


def test_fast_example_prints_a_line_per_iteration_and_a_closing_summary(tmp_path: Path) -> None:
    stdout = _rllib_train("fast_racetrack.py", tmp_path, similarity_interval=100)
    iteration = next(line for line in stdout.splitlines() if line.startswith("iter 1 "))
    for part in ("env steps ", " steps/s", "drives ", "share ", "top ", "switches ", "target return "):
        assert part in iteration, iteration
    assert stdout.count("trial finished: iterations=1") == 1
    assert "target policy: return " in stdout
    results = tmp_path / "results"
    assert f"results: {results}" in stdout
    checkpoint = next(line for line in stdout.splitlines() if line.strip().startswith("checkpoint: "))
    assert Path(checkpoint.split("checkpoint: ", 1)[1]).is_dir()  # checkpoints at the end by default
    assert "new API stack" not in stdout  # RLlib's warnings stay behind -v


@pytest.mark.extended  # a second `rllib train file` run: outside CI, see docs/using-fast.md
def test_the_dqn_example_runs_fast_on_dqn_with_the_discrete_zoo(tmp_path: Path) -> None:
    stdout = _rllib_train("fast_dqn_racetrack.py", tmp_path, similarity_interval=100)
    iteration = next(line for line in stdout.splitlines() if line.startswith("iter 1 "))
    assert "drives " in iteration and "top " in iteration and "top n/a" not in iteration, iteration
    assert stdout.count("trial finished: iterations=1") == 1


def test_the_sac_example_is_the_shared_sac_settings_on_the_same_target() -> None:
    """The command path is the FAST example's test; SAC's training loop is tested in test_transition_sac.py."""
    config, stop = load_tuned_example(ROOT / "tuned_examples" / "sac_racetrack.py")
    fast, fast_stop = load_tuned_example(ROOT / "tuned_examples" / "fast_racetrack.py")
    config.validate()
    assert type(config).__name__ == "TransitionSACConfig" and config.env == fast.env and stop == fast_stop
    for key in ("actor_lr", "critic_lr", "gamma", "train_batch_size_per_learner", "training_intensity", "seed"):
        assert getattr(config, key) == getattr(fast, key), key
    sac_result = {"training_iteration": 1, "num_env_steps_sampled_lifetime": 1000, "time_this_iter_s": 2.0,
                  "env_runners": {"num_env_steps_sampled": 1000, "episode_return_mean": 12.5}}
    assert iteration_line(sac_result) == "iter 1  env steps 1,000  500 steps/s  return 12.5"


def _train_in_process(tmp_path: Path, config: dict, capsys) -> str:
    """What the command prints on stderr when it refuses a config (no Ray is started for that)."""
    arguments = ["train", "file", str(ROOT / "tuned_examples" / "fast_racetrack.py"), "--config", json.dumps(config),
                 "--storage-path", str(tmp_path / "results")]
    with pytest.raises(SystemExit) as refused:
        main(arguments)
    return str(refused.value.code) + capsys.readouterr().err


def test_a_misspelled_config_key_is_named_with_the_nearest_one(tmp_path: Path, capsys) -> None:
    message = _train_in_process(tmp_path, {"similarity_treshold": 0.5}, capsys)
    assert "rllib: --config key 'similarity_treshold' is not a setting of FASTConfig; did you mean 'similarity_threshold'?" in message
    assert not (tmp_path / "results").exists()


def test_an_invalid_value_fails_in_one_line_before_any_results_folder(tmp_path: Path, capsys) -> None:
    message = _train_in_process(tmp_path, {"similarity_threshold": 7}, capsys)
    assert message.strip().splitlines() == [
        "rllib: similarity_threshold=7 is outside the range of similarity_metric 'nearest_cosine': [-1.0, 1.0]"
    ]
    assert not (tmp_path / "results").exists()


def test_missing_file_and_missing_config_are_named(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit, match=r"rllib: tuned-example file '.*nowhere.py' does not exist"):
        main(["train", "file", str(tmp_path / "nowhere.py")])
    empty = tmp_path / "empty.py"
    empty.write_text("stop = {'training_iteration': 1}\n")
    with pytest.raises(SystemExit, match=r"must define a module-level `config` \(an AlgorithmConfig\); found nothing"):
        main(["train", "file", str(empty)])


def test_the_config_json_example_is_one_that_config_accepts(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=re.escape(f"--config must be a JSON object, e.g. '{JSON_EXAMPLES['--config']}'")):
        main(["train", "file", str(ROOT / "tuned_examples" / "fast_racetrack.py"), "--config", "{"])
    config, _ = load_tuned_example(ROOT / "tuned_examples" / "fast_racetrack.py")
    example = json.loads(JSON_EXAMPLES["--config"])
    check_config_keys(config, example)
    config.update_from_dict(example)


def test_trust_pickles_reaches_a_fast_config_and_is_refused_elsewhere() -> None:
    fast, _ = load_tuned_example(ROOT / "tuned_examples" / "fast_racetrack.py")
    assert fast.trust_pickles is False
    apply_overrides(fast, {"seed": 3}, trust_pickles=True)
    assert fast.trust_pickles is True and fast.seed == 3
    with pytest.raises(SystemExit, match=r"^rllib: --trust-pickles is for configs that load source modules .*"
                                         r"TransitionSACConfig has none$"):
        main(["train", "file", str(ROOT / "tuned_examples" / "sac_racetrack.py"), "--trust-pickles"])


def test_a_truncated_source_module_stops_the_command_in_a_few_lines_before_tune(tmp_path: Path) -> None:
    """The issue's newcomer: a copy of the zoo with kidney-v0's module cut to its first 2,000 bytes."""
    repository = Path(shutil.copytree(DEFAULT_REPOSITORY, tmp_path / "zoo"))
    weights = repository / "kidney-v0" / "module" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:2000])
    started = time.monotonic()
    finished = _run_rllib("fast_racetrack.py", tmp_path, {"repository_path": str(repository)})
    seconds = time.monotonic() - started
    output = (finished.stdout + finished.stderr).strip().splitlines()
    assert finished.returncode != 0 and seconds < 30 and len(output) <= 10, (seconds, output)
    assert "Traceback" not in finished.stderr and not (tmp_path / "results").exists()
    assert "source entry 'kidney-v0'" in output[-1] and "module/weights.safetensors is damaged (2000 bytes, " in output[-1]


def test_bad_stop_json_is_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--stop must be a JSON object"):
        main(["train", "file", str(ROOT / "tuned_examples" / "sac_racetrack.py"), "--stop", "[1, 2]"])
