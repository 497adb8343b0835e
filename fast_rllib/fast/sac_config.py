"""FAST on SAC's settings: SAC's keys (on the transition replay path) plus FAST's (:class:`FASTSettings`),
with the learner that distils the driving source and an action pipeline that survives ``explore`` changing
mid-episode. FAST on DQN's counterpart is :class:`fast_rllib.fast.dqn.FASTDQNConfig`.
"""

from __future__ import annotations

from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.connectors.module_to_env import GetActions

from fast_rllib.fast.config import FASTSettings
from fast_rllib.fast.one_logp_per_step import OneLogpPerStep
from fast_rllib.training.transition_sac import TransitionSACConfig


class FASTConfig(FASTSettings, TransitionSACConfig):
    """SAC's settings plus FAST's; see :meth:`FASTSettings.training` for every FAST key.

    Example::

        config = (
            FASTConfig()
            .environment("fast/indiana-v0")
            .training(similarity_interval=1000, modality="FT", candidate_ratio=0.5)
        )
        algo = config.build_algo()
    """

    def __init__(self, algo_class: type | None = None) -> None:
        from fast_rllib.fast.algorithm import FAST

        super().__init__(algo_class=algo_class or FAST)

    def get_default_learner_class(self) -> type:
        from fast_rllib.fast.learner import FASTSACTorchLearner

        return FASTSACTorchLearner

    def build_module_to_env_connector(self, env=None, spaces=None) -> ConnectorV2:
        """RLlib's pipeline, with one log-probability per step whatever ``explore`` a round had (see
        :mod:`fast_rllib.fast.one_logp_per_step`)."""
        pipeline = super().build_module_to_env_connector(env, spaces)
        pipeline.insert_after(GetActions, OneLogpPerStep())
        return pipeline
