"""FAST as an RLlib algorithm package, laid out like ``ray/rllib/algorithms/sac/``.

- :mod:`.config`: :class:`FASTSettings`, every FAST key an explicit ``training()`` keyword;
- :mod:`.sac_config`: :class:`FASTConfig`, FAST on SAC's settings;
- :mod:`.algorithm`: :class:`FASTTraining`, one top-down ``training_step`` (capture, sample, store,
  account, decide, update, weights) for any algorithm on the transition replay path, and :class:`FAST`;
- :mod:`.dqn`: :class:`FASTDQN` and :class:`FASTDQNConfig`, FAST on DQN for discrete actions;
- :mod:`.teacher`, :mod:`.learner`, :mod:`.dqn_learner`: distillation's teacher and each algorithm's
  imitation loss;
- :mod:`.selection`: which policy drives, free of Ray and RLlib;
- :mod:`.frame_probe`: capturing the target's frames inside an EnvRunner;
- :mod:`.similarity_client`: asking the similarity service without ever stopping training;
- :mod:`.telemetry`: live figures for the Ray dashboard.
"""

from fast_rllib.fast.algorithm import FAST
from fast_rllib.fast.dqn import FASTDQN, FASTDQNConfig
from fast_rllib.fast.sac_config import FASTConfig

__all__ = ["FAST", "FASTConfig", "FASTDQN", "FASTDQNConfig"]
