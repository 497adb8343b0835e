"""One similarity service for a whole Tune sweep, started and owned by the driver that runs the sweep.

Every trial finds the service by the name its settings give (:func:`~fast_rllib.fast.similarity_client.
named_settings`). When a trial starts it, Ray ties the actor's life to that trial: once the first trial
finishes, the other trials' next queries find it gone, fall back to the target, start a new one that
embeds the whole repository again, and its per-trial counts start over. Started on the driver before
``tuner.fit()``, and kept until the sweep ends, the one service answers every trial from first decision
to last (where the cluster can place it: trials still start their own when it cannot be placed).
"""

from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

from fast_rllib.fast.config import FASTSettings
from fast_rllib.fast.similarity_client import named_settings
from fast_rllib.service import start_similarity_service


def _varies(value: Any) -> bool:
    """A ``tune.grid_search`` (or other Tune search space) in place of a value."""
    return (isinstance(value, dict) and "grid_search" in value) or type(value).__module__.startswith("ray.tune")


def start_sweep_service(config: AlgorithmConfig):
    """The service that every trial of ``config``'s sweep will query, started (not waited for) with the
    trials' own name, settings and resources; keep the handle until the sweep ends.

    None when ``config`` is not FAST's, or when the service's own settings vary across the sweep (each
    trial then starts the service its settings name, as it always can).
    """
    if not isinstance(config, FASTSettings):
        return None
    settings, placement = config.similarity_service_settings(), config.similarity_service_placement()
    if any(_varies(value) for value in (config.similarity_service_name, *settings.values(), *placement.values())):
        return None
    return start_similarity_service(*named_settings(config.similarity_service_name, settings), **placement)
