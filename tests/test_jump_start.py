"""Jump-Start RL: the curriculum's rule on synthetic returns, and the guide's roll-in inside real EnvRunners."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_repository import tiny_sac_config

from fast_rllib.jump_start import JumpStartConfig
from fast_rllib.jump_start.curriculum import RollInCurriculum, staged_horizons
from fast_rllib.jump_start.roll_in import GuideRollIn, deterministic_actions
from fast_rllib.repository import SourceRepository

GUIDE = "racetrack-oval-v0"


# The curriculum ----------------------------------------------------------------------------------------


def test_horizons_go_from_a_whole_episode_to_zero_in_equal_stages() -> None:
    assert staged_horizons(150, 4) == (150, 112, 75, 38, 0)
    assert staged_horizons(10, 1) == (10, 0)


def _feed(curriculum: RollInCurriculum, returns: list[float]) -> list[bool]:
    return [curriculum.record_episode(curriculum.stage, value) for value in returns]


def test_the_guide_alone_sets_the_reference_and_a_stage_ends_when_it_is_reached() -> None:
    curriculum = RollInCurriculum((100, 50, 0), tolerance=0.1, episodes_per_check=2)
    assert _feed(curriculum, [80.0, 100.0]) == [False, True]
    assert (curriculum.stage, curriculum.horizon, curriculum.best_return) == (1, 50, 90.0)
    assert _feed(curriculum, [70.0, 80.0]) == [False, False]  # 75 < 0.9 x 90
    assert _feed(curriculum, [82.0]) == [True]  # the latest two: 80, 82 -> 81 >= 81
    assert curriculum.finished and curriculum.horizon == 0
    assert _feed(curriculum, [1.0, 1.0]) == [False, False]  # nothing after the last stage


def test_episodes_begun_under_another_stage_do_not_count() -> None:
    curriculum = RollInCurriculum((100, 0), episodes_per_check=1)
    assert not curriculum.record_episode(stage=1, episode_return=5.0)
    assert curriculum.stage == 0 and curriculum.best_return is None


def test_the_curriculum_state_round_trips() -> None:
    curriculum = RollInCurriculum((100, 50, 0), episodes_per_check=3)
    _feed(curriculum, [1.0, 2.0, 3.0, 4.0])
    restored = RollInCurriculum((100, 50, 0), episodes_per_check=3).restored(curriculum.to_dict())
    assert restored.to_dict() == curriculum.to_dict() == {"stage": 1, "best_return": 2.0, "recent": [4.0]}


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"horizons": (10, 20, 0)}, "non-increasing"),
        ({"horizons": (10, 5)}, "must end at 0"),
        ({"horizons": (10, 0), "tolerance": 1.0}, "stage_tolerance=1.0"),
        ({"horizons": (10, 0), "episodes_per_check": 0}, "stage_episodes=0"),
    ],
)
def test_bad_curriculum_settings_are_named(settings, message) -> None:
    with pytest.raises(ValueError, match=message):
        RollInCurriculum(**settings)


# The roll-in inside EnvRunners -------------------------------------------------------------------------


def _jump_start_config(repository, **training) -> JumpStartConfig:
    return tiny_sac_config(JumpStartConfig()).training(repository_path=str(repository), guide_source=GUIDE, **training)


@pytest.mark.slow
def test_the_guide_acts_below_the_horizon_and_the_learner_above(repository, ray_session) -> None:
    algo = _jump_start_config(repository).env_runners(num_env_runners=0).build_algo()
    try:
        runner = algo.env_runner_group.local_env_runner
        assert algo.curriculum.horizon == 50  # duration 10 s at 5 Hz: a whole episode
        [piece] = [piece for piece in runner._module_to_env.connectors if isinstance(piece, GuideRollIn)]
        piece.horizon = 3
        episodes = runner.sample(num_timesteps=40, random_actions=False)
        guide = SourceRepository.load(repository)[GUIDE].load_module()
        checked_guide = checked_learner = 0
        for episode in episodes:
            observations, actions = episode.get_observations()[:-1], episode.get_actions()
            expected = deterministic_actions(guide, np.asarray(observations))
            for t, (action, guide_action) in enumerate(zip(actions, expected), start=episode.t_started):
                if t < 3:
                    np.testing.assert_allclose(action, guide_action, rtol=1e-6)
                    checked_guide += 1
                else:
                    assert not np.allclose(action, guide_action)
                    checked_learner += 1
        assert checked_guide >= 6 and checked_learner > 0  # at least 3 rolled-in steps in each of 2 envs
    finally:
        algo.stop()


@pytest.mark.slow
def test_the_curriculum_moves_on_and_remote_env_runners_follow(repository, ray_session) -> None:
    config = _jump_start_config(repository, roll_in_stages=2, stage_episodes=1, stage_tolerance=0.99)
    algo = config.env_runners(num_env_runners=1).build_algo()
    try:
        for _ in range(10):
            result = algo.train()
            if algo.curriculum.stage == 2:
                break
        assert algo.curriculum.stage == 2 and result["jump_start"]["roll_in_horizon"] == 0
        result = algo.train()  # the new horizon is queued before the next request: the learner drives alone
        assert 0 < result["jump_start"]["guide_env_steps"] < result["num_env_steps_sampled_lifetime"]
        horizons = algo.env_runner_group.foreach_env_runner(
            lambda runner: [p.horizon for p in runner._module_to_env.connectors if isinstance(p, GuideRollIn)],
            local_env_runner=False,
        )
        assert horizons == [[0]]
    finally:
        algo.stop()


def test_an_unknown_guide_is_named_with_the_entries(repository) -> None:
    with pytest.raises(ValueError, match=r"guide_source='chicane' is not an entry .*racetrack-oval-v0"):
        tiny_sac_config(JumpStartConfig()).training(repository_path=str(repository), guide_source="chicane").validate()


def test_a_misspelled_key_names_the_nearest_one() -> None:
    with pytest.raises(TypeError, match=r"JumpStartConfig.training\(\) got an unexpected keyword argument 'guide_sorce'"):
        JumpStartConfig().training(guide_sorce="x")
