"""An episode that runs on while FAST switches ``explore`` between rounds (a greedy source, the target
measured on its mean action) must come back from the EnvRunner: RLlib stores a log-probability per step,
whose shape differs between a sampled continuous action and the mean action unless FAST's pipeline evens it."""

from __future__ import annotations

import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from tiny_repository import tiny_sac_config

from fast_rllib import FASTConfig
from fast_rllib.fast.one_logp_per_step import OneLogpPerStep


def test_a_batched_logp_keeps_one_value_per_step() -> None:
    piece = OneLogpPerStep()
    deterministic = {Columns.ACTION_LOGP: torch.zeros(3, 1)}
    assert piece(rl_module=None, batch=deterministic, episodes=[])[Columns.ACTION_LOGP].shape == (3,)
    sampled = torch.tensor([-1.0, -2.0, -0.5])
    assert piece(rl_module=None, batch={Columns.ACTION_LOGP: sampled}, episodes=[])[Columns.ACTION_LOGP] is sampled
    assert piece(rl_module=None, batch={}, episodes=[]) == {}


def _sample_switching_explore(config) -> None:
    runner = SingleAgentEnvRunner(config=config)
    try:
        for explore in (True, False, True):
            runner.sample(num_timesteps=6, explore=explore, random_actions=False)
    finally:
        runner.stop()


def test_an_episode_spanning_rounds_with_and_without_exploration_comes_back() -> None:
    # 10 s episodes at 5 steps per second on 2 envs: every episode runs through all three rounds.
    _sample_switching_explore(tiny_sac_config(FASTConfig()))


def test_without_fasts_pipeline_the_same_rounds_fail() -> None:
    """What the piece fixes, so that the test above can fail: RLlib's own SAC pipeline."""
    with pytest.raises(ValueError, match="inhomogeneous"):
        _sample_switching_explore(tiny_sac_config())
