"""Targets outside the catalogue: a user's own track, any Gymnasium env, and generated tracks.

The end-to-end tests train FAST on a track registered in the test (never in the catalogue) with a remote
EnvRunner and in a Tune trial, which must build the track with no set-up of their own.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ray import tune
from tiny_repository import policy_outputs, runner_outputs, tiny_fast_config, train_until_a_source_drove_a_whole_step

from fast_rllib import FASTConfig, RacingTrack, SourceRepository, register_target, register_track
from fast_rllib.fast.selection import TARGET
from fast_rllib.repository import DEFAULT_REPOSITORY
from fast_rllib.tasks import get_task, make_task_env
from fast_rllib.tasks.generated import VALIDATION_SEEDS, generated_task_id
from fast_rllib.tasks.racing import PolygonRacetrackEnv

FAST_RLLIB = Path(sys.executable).parent / "fast-rllib"
TWO_LANE_RECTANGLE = RacingTrack(
    corners=[(0, 0), (150, 0), (150, -70), (0, -70)],
    radii=[30, 12, 30, 12],
    lanes=2,
    traffic=(1, 3),
    description="The ego-vehicle is driving on a two-lane rectangle with two sweeping and two tight bends.",
)


def _traffic_count(env) -> int:
    return len(env.unwrapped.road.vehicles) - 1


def test_a_registered_track_is_built_by_id_with_traffic_drawn_from_its_range() -> None:
    task_id = register_track("mine/rectangle-v0", TWO_LANE_RECTANGLE)
    env = make_task_env(task_id)
    counts = set()
    for seed in range(12):
        env.reset(seed=seed)
        counts.add(_traffic_count(env))
    env.close()
    assert isinstance(env.unwrapped, PolygonRacetrackEnv)
    assert counts <= {1, 2, 3} and len(counts) >= 2
    assert get_task(task_id).description == TWO_LANE_RECTANGLE.description


def test_a_bad_track_is_named_when_registered() -> None:
    with pytest.raises(ValueError, match=r"radii"):
        register_track("mine/bad-v0", RacingTrack(corners=[(0, 0), (10, 0), (10, -10)], radii=[30, 30, 30], description="x"))
    with pytest.raises(ValueError, match=r"catalogue task"):
        register_track("fast/indiana-v0", TWO_LANE_RECTANGLE)


def test_a_gymnasium_env_with_other_spaces_is_refused_on_the_driver_naming_env_and_space() -> None:
    config = FASTConfig().environment("Pendulum-v1").training(target_description="A pendulum to swing up.")
    with pytest.raises(ValueError, match=r"repository_path='.*' cannot serve target 'Pendulum-v1': .*observation_space .*\[45\] != expected \[3\]"):
        config.validate()


def test_a_gymnasium_env_without_description_is_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"env='MountainCarContinuous-v0' is a Gymnasium env without a description: set training\(target_description=...\)"):
        FASTConfig().environment("MountainCarContinuous-v0").validate()


def test_a_target_whose_frames_are_not_rgb_is_named() -> None:
    task_id = register_target(
        "mine/gray-frames-v0",
        lambda config: make_task_env("fast/indiana-v0"),
        description="Indiana, seen in gray.",
        frame_function=lambda env: np.zeros((8, 8), dtype=np.uint8),
    )
    with pytest.raises(ValueError, match=r"env='mine/gray-frames-v0': frames: frame_function\(env\) returned shape \(8, 8\)"):
        FASTConfig().environment(task_id).validate()


def test_generated_tracks_are_deterministic_valid_and_described() -> None:
    for seed in VALIDATION_SEEDS:
        task = get_task(generated_task_id(seed))
        assert task.kind == "racing" and "closed racetrack" in task.description
    assert get_task(generated_task_id(3)).config == get_task(generated_task_id(3)).config
    assert get_task(generated_task_id(3)).config != get_task(generated_task_id(4)).config
    env = make_task_env(generated_task_id(5))
    env.reset(seed=0)
    env.close()


# Training on a target outside the catalogue ----------------------------------------------------------------


def _user_track_config(repository, task_id: str):
    """The tiny repository's FAST settings on the user's track, Θ at the bottom of the metric's range: any
    source qualifies, so one must drive."""
    return tiny_fast_config(repository).environment(task_id, env_config={"duration_s": 10.0})


@pytest.mark.slow
def test_fast_drives_a_user_track_with_a_source_on_a_remote_env_runner(repository, ray_session) -> None:
    task_id = register_track("mine/remote-rectangle-v0", TWO_LANE_RECTANGLE)
    algo = _user_track_config(repository, task_id).build_algo()
    try:
        result, driving = train_until_a_source_drove_a_whole_step(algo)
        assert algo.env_runner_group.num_remote_env_runners() == 1
        assert result["fast"]["following_source"] == 1.0
        assert result["fast"]["env_steps"][driving] > 0
        source_module = SourceRepository.load(repository)[driving].load_module()
        np.testing.assert_allclose(runner_outputs(algo)[0][1].numpy(), policy_outputs(source_module).numpy(), rtol=1e-5)
    finally:
        algo.stop()


@pytest.mark.slow
def test_fast_drives_a_user_track_in_a_tune_trial(repository, ray_session, tmp_path) -> None:
    task_id = register_track("mine/tune-rectangle-v0", TWO_LANE_RECTANGLE)
    tuner = tune.Tuner(
        "FAST",
        param_space=_user_track_config(repository, task_id),
        run_config=tune.RunConfig(stop={"training_iteration": 2}, storage_path=str(tmp_path), verbose=0),
    )
    (result,) = tuner.fit()
    assert result.error is None
    fast = result.metrics["fast"]
    assert fast["following_source"] == 1.0 and sum(n for name, n in fast["env_steps"].items() if name != TARGET) > 0


@pytest.mark.slow
def test_fast_trains_on_a_gymnasium_creator_target(repository, ray_session) -> None:
    """A custom target (its own creator, frames from env.render()) built inside a remote EnvRunner."""
    task_id = register_target(
        "mine/creator-indiana-v0",
        lambda config: make_task_env("fast/indiana-v0", duration_s=10.0),
        description="A two-lane oval speedway with two tight half-circle bends, turning left.",
    )
    algo = tiny_fast_config(repository, similarity_timeout_s=60.0).environment(task_id).build_algo()
    try:
        result = algo.train()
        assert result["fast"]["decisions"] >= 1 and result["fast"]["following_source"] == 1.0
    finally:
        algo.stop()


@pytest.mark.slow
@pytest.mark.extended
def test_score_prints_every_source_with_f_ft_transferability_zero_shot_returns_and_rho(tmp_path) -> None:
    chart = tmp_path / "scores.png"
    command = [str(FAST_RLLIB), "score", "--task", "fast/indiana-v0", "--zero-shot", "1", "--output", str(chart)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
    lines = finished.stdout.splitlines()
    for name in SourceRepository.load(DEFAULT_REPOSITORY).names:
        row = next(line for line in lines if line.startswith(f"{name} "))
        # F, FT, FT relative to the range, transferability (the zoo has transfer records), zero-shot return
        assert len(re.findall(r"-?\d+\.\d+", row)) == 5, row
    assert any(line.startswith("FT: ") and ("would drive" in line or "the target drives" in line) for line in lines)
    assert any(line.startswith("FT, default rule: candidates (relative score >= 0.5) tried in this order") for line in lines)
    assert any(line.startswith("Spearman rho (score FT vs zero-shot return)") for line in lines)
    assert any(line.startswith("transferability, default rule: candidates") for line in lines)
    assert any(line.startswith("Spearman rho (score transferability vs zero-shot return)") for line in lines)
    assert chart.stat().st_size > 0


@pytest.mark.slow
def test_sac_trains_on_a_generated_track_on_a_remote_env_runner(ray_session) -> None:
    """A generated id is known to no worker beforehand: the config registers it with Tune."""
    from fast_rllib.training.settings import racing_sac_config

    algo = racing_sac_config(generated_task_id(7)).reporting(min_sample_timesteps_per_iteration=64).build_algo()
    try:
        assert algo.train()["num_env_steps_sampled_lifetime"] >= 64
    finally:
        algo.stop()
