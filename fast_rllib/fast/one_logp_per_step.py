"""One log-probability per env step, whether a round explores or acts on the mean action.

FAST switches ``explore`` between sampling rounds (a source on its mean action, the target measured on its
mean action for the pull) while episodes run on. RLlib's ``GetActions`` stores, per step, the action's
log-probability under the distribution it sampled from; a continuous policy's squashed Gaussian gives one
number per step, but on the mean action the distribution is ``TorchDeterministic``, whose ``logp`` has the
action's shape. An episode that spans the switch then holds per-step values of two shapes, and RLlib fails
to stack them (``ValueError: ... inhomogeneous shape``) when the EnvRunner returns the episode, which
crashes the EnvRunner and loses the episode. Summed over the action's dimensions (log-probabilities of
independent dimensions add; the deterministic ones are zeros), every step holds one number.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule


class OneLogpPerStep(ConnectorV2):
    """Placed right after ``GetActions``: reduces a batched ``action_logp`` of shape (B, ...) to (B,)."""

    def __call__(
        self, *, rl_module: RLModule, batch: dict[str, Any], episodes: list, explore: bool | None = None, **kwargs: Any
    ) -> Any:
        logp = batch.get(Columns.ACTION_LOGP)
        if logp is not None and logp.ndim > 1:
            batch[Columns.ACTION_LOGP] = logp.sum(dim=tuple(range(1, logp.ndim)))
        return batch
