"""Every task id builds with the shared spec, locally and inside a Ray worker; bad input is named."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import ray

import fast_rllib  # noqa: F401  (registers the ids)
from fast_rllib.tasks import OBSERVATION_SIZE, TASKS, get_task, make_task_env, task_ids
from fast_rllib.tasks.spec import DISCRETE_STEERING_ACTIONS

ALL_TASK_IDS = sorted(TASKS)


def _step_randomly(env: gym.Env, steps: int, seed: int = 0) -> None:
    env.action_space.seed(seed)
    observation, _ = env.reset(seed=seed)
    for _ in range(steps):
        assert env.observation_space.contains(observation), observation
        observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert np.isfinite(reward)
        if terminated or truncated:
            observation, _ = env.reset()


@pytest.mark.parametrize("task_id", ALL_TASK_IDS)
@pytest.mark.parametrize("action_mode,action_dim", [("steering", 1), ("acceleration_steering", 2)])
def test_every_task_has_the_shared_spec(task_id: str, action_mode: str, action_dim: int) -> None:
    env = gym.make(task_id, action_mode=action_mode)
    assert env.observation_space == gym.spaces.Box(-np.inf, np.inf, (OBSERVATION_SIZE,), np.float32)
    assert env.action_space.shape == (action_dim,)
    _step_randomly(env, steps=20)
    env.close()


@pytest.mark.parametrize("task_id", ALL_TASK_IDS)
def test_every_task_has_a_discrete_steering_variant(task_id: str) -> None:
    env = gym.make(task_id, action_mode="discrete_steering")
    assert env.observation_space.shape == (OBSERVATION_SIZE,)
    assert env.action_space == gym.spaces.Discrete(DISCRETE_STEERING_ACTIONS)
    _step_randomly(env, steps=20)
    env.close()


@pytest.mark.parametrize("task_id", ["fast/racetrack-v0", "fast/roundabout-v0"])
def test_a_discrete_action_earns_the_reward_of_the_steering_it_applies(task_id: str) -> None:
    """Discrete action i steers -1 + 2i/(n-1) of full lock; its reward (the action penalty included) is that
    continuous action's, not a penalty on the index."""
    last = DISCRETE_STEERING_ACTIONS - 1
    for index in (0, last // 2, last):
        rewards = []
        for action_mode, action in (("discrete_steering", index), ("steering", np.array([-1 + 2 * index / last], np.float32))):
            env = make_task_env(task_id, action_mode=action_mode)
            env.reset(seed=5)
            rewards.append([env.step(action)[1] for _ in range(3)])
            env.close()
        assert rewards[0] == pytest.approx(rewards[1], abs=1e-9), index


def test_catalogue_has_racing_and_driving_tasks() -> None:
    assert set(task_ids("racing")) | set(task_ids("driving")) == set(TASKS)
    assert len(task_ids("racing")) >= 9
    assert {"fast/indiana-v0", "fast/complex-v0"} <= set(task_ids("racing"))
    assert len(task_ids("driving")) >= 4


@pytest.mark.parametrize("task_id", ALL_TASK_IDS)
def test_descriptions_follow_the_house_style(task_id: str) -> None:
    description = get_task(task_id).description
    assert description.startswith("The ego-vehicle is driving")
    assert "The agent's objective is" in description


def test_descriptions_are_distinct() -> None:
    descriptions = [task.description for task in TASKS.values()]
    assert len(set(descriptions)) == len(descriptions)


def test_unknown_task_id_names_the_id_and_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown task id 'fast/nowhere-v0': .* catalogue ids: .*fast/racetrack-v0"):
        make_task_env("fast/nowhere-v0")


def test_unknown_option_names_the_key_and_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown config key 'lanes_count' for task 'fast/racetrack-v0'; allowed keys: .*other_vehicles"):
        make_task_env("fast/racetrack-v0", config={"lanes_count": 3})


def test_shared_spec_keys_cannot_be_overridden() -> None:
    with pytest.raises(ValueError, match=r"config key 'observation' .* part of the shared spec"):
        make_task_env("fast/racetrack-v0", config={"observation": {"type": "OccupancyGrid"}})


def test_unknown_action_mode_names_the_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"action_mode='throttle' is not supported; allowed values: steering, acceleration_steering"):
        make_task_env("fast/racetrack-v0", action_mode="throttle")


def test_non_positive_duration_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"duration_s=0 must be a positive number"):
        make_task_env("fast/racetrack-v0", duration_s=0)


@pytest.fixture(scope="module")
def ray_cluster():
    """A second Ray session of this process on purpose: Tune flushes registrations only at the first
    ``ray.init`` of a process, so the ids must still reach a cluster started after a shutdown."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_every_task_builds_and_steps_inside_a_ray_worker(ray_cluster) -> None:
    """Workers only get the Tune-registered creator, as RLlib EnvRunners do; they must know every id."""

    @ray.remote
    def build_and_step(task_ids: list[str]) -> dict[str, int]:
        from ray.tune.registry import ENV_CREATOR, _global_registry

        sizes = {}
        for task_id in task_ids:
            env = _global_registry.get(ENV_CREATOR, task_id)({"duration_s": 5})
            observation, _ = env.reset(seed=0)
            for _ in range(5):
                observation, *_ = env.step(env.action_space.sample())
            sizes[task_id] = observation.size
            env.close()
        return sizes

    sizes = ray.get(build_and_step.remote(ALL_TASK_IDS))
    assert sizes == {task_id: OBSERVATION_SIZE for task_id in ALL_TASK_IDS}
