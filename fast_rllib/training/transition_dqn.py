"""RLlib DQN (new API stack) on the transition replay path (:mod:`fast_rllib.training.transition_replay`).

The learner is RLlib's ``DQNTorchLearner`` and the module its ``DefaultDQNTorchRLModule``, unchanged: the
replay buffer hands them integer actions, and the target network follows ``target_network_update_freq`` as
in stock DQN because every update carries the lifetime env steps.
"""

from __future__ import annotations

from ray.rllib.algorithms.dqn import DQN, DQNConfig

from fast_rllib.training.transition_replay import TransitionReplay, TransitionReplayConfig


class TransitionDQNConfig(TransitionReplayConfig, DQNConfig):
    """``DQNConfig`` plus the transition replay keys (see :class:`TransitionReplayConfig`)."""

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or TransitionDQN)


class TransitionDQN(TransitionReplay, DQN):
    """DQN whose ``training_step`` replays transitions from numpy arrays."""

    config: TransitionDQNConfig

    @classmethod
    def get_default_config(cls) -> TransitionDQNConfig:
        return TransitionDQNConfig()
