"""FAST as an RLlib algorithm package, laid out like ``ray/rllib/algorithms/sac/``.

- :mod:`.config`: :class:`FASTConfig`, every FAST key an explicit ``training()`` keyword;
- :mod:`.algorithm`: :class:`FAST`, one top-down ``training_step`` (capture, sample, store, account,
  decide, update, weights);
- :mod:`.selection`: which policy drives, free of Ray and RLlib;
- :mod:`.frame_probe`: capturing the target's frames inside an EnvRunner;
- :mod:`.similarity_client`: asking the similarity service without ever stopping training;
- :mod:`.telemetry`: live figures for the Ray dashboard.
"""

from fast_rllib.fast.algorithm import FAST
from fast_rllib.fast.config import FASTConfig

__all__ = ["FAST", "FASTConfig"]
