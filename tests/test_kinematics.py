"""The numpy Kinematics observation: what every highway-env task uses, equal to highway-env's own."""

from __future__ import annotations

import numpy as np
import pytest
from highway_env.envs.common.observation import KinematicObservation

from fast_rllib.tasks import TASKS, get_task, make_task_env
from fast_rllib.tasks.controller import LaneFollowingController
from fast_rllib.tasks.generated import generated_task_id
from fast_rllib.tasks.kinematics import FastKinematicObservation
from fast_rllib.tasks.racing import PolygonRacetrackEnv
from fast_rllib.tasks.spec import KINEMATICS_FEATURES, OBSERVATION_SIZE

RACING = sorted(task_id for task_id, task in TASKS.items() if task.kind == "racing") + [generated_task_id(5)]


@pytest.mark.parametrize("task_id", sorted(task_id for task_id, task in TASKS.items() if task.env_class is not None))
def test_every_highway_env_task_observes_with_numpy(task_id: str) -> None:
    env = make_task_env(task_id)
    env.reset(seed=0)
    assert type(env.unwrapped.observation_type) is FastKinematicObservation
    env.close()


@pytest.mark.parametrize("task_id", RACING)
def test_racing_observation_equals_highway_env_bit_for_bit(task_id: str) -> None:
    """Racing sources were trained on pandas-built observations: the numpy ones must be the same bits,
    with traffic in view, on every reset, whether the ego follows its lane or steers at random."""
    crowded = {"other_vehicles": 4} if get_task(task_id).env_class is PolygonRacetrackEnv else None
    env = make_task_env(task_id, config=crowded)
    controller, rng = LaneFollowingController(), np.random.default_rng(0)
    steps_with_traffic = 0
    for episode in range(3):
        observation, _ = env.reset(seed=episode)
        stock = KinematicObservation(env.unwrapped, **env.unwrapped.config["observation"])
        for step in range(60):
            np.testing.assert_array_equal(observation, stock.observe().reshape(-1), err_msg=f"episode {episode} step {step}")
            steps_with_traffic += bool(np.any(observation.reshape(stock.vehicles_count, -1)[1:, 0]))
            action = controller(observation) if episode != 1 else rng.uniform(-1, 1, size=env.action_space.shape)
            observation, _, terminated, truncated, _ = env.step(action.astype(np.float32))
            if terminated or truncated:
                break
    env.close()
    assert steps_with_traffic > 0, "no other car was ever in view: the comparison did not cover traffic rows"


LONG_OFF_COLUMNS = np.arange(KINEMATICS_FEATURES.index("long_off"), OBSERVATION_SIZE, len(KINEMATICS_FEATURES))


@pytest.mark.parametrize("task_id, observed", [("fast/highway-v0", False), ("fast/merge-v0", False), ("fast/roundabout-v0", True)])
def test_the_motorways_report_no_long_off_and_the_other_scenes_do(task_id: str, observed: bool) -> None:
    """On a motorway ``long_off`` is the distance driven along one long lane (hundreds of metres); there it
    is 0 in every row, traffic's included, and the other features are still observed (``x``, for one)."""
    env = make_task_env(task_id)
    observation, _ = env.reset(seed=0)
    seen = [observation]
    for _ in range(5):
        observation, *_ = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        seen.append(observation)
    env.close()
    seen = np.stack(seen)
    assert np.any(seen[:, LONG_OFF_COLUMNS] != 0) == observed
    assert np.any(seen[:, KINEMATICS_FEATURES.index("x")] != 0)


def test_an_unobserved_feature_must_be_an_observed_one() -> None:
    env = make_task_env("fast/merge-v0")
    with pytest.raises(ValueError, match=r"unobserved features \['distance'\] are not observed features"):
        FastKinematicObservation(env.unwrapped, unobserved=("distance",), **env.unwrapped.config["observation"])
    env.close()
