"""The guide's roll-in inside each EnvRunner: a module-to-env connector piece.

Jump-Start RL switches policy *within* an episode, at step ``h``, so the switch must happen where each
env step's action is chosen. RLlib records in the episode the action that leaves the module-to-env
pipeline, so replacing it here means the replay buffer holds the action that was executed, whoever
chose it. The piece sits where RLlib puts user pieces (after actions are sampled and unbatched, before
they are unsquashed to the env's bounds), so the guide's action is in the learner's normalised space.

The guide acts deterministically, as a pre-trained guide does in the paper; the learner explores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

from fast_rllib.repository.loading import read_entry


class GuideRollIn(ConnectorV2):
    """Replaces the learner's action by the guide's for every episode at a step below the horizon."""

    def __init__(
        self,
        input_observation_space: Any = None,
        input_action_space: Any = None,
        *,
        repository_path: str | Path,
        guide_source: str,
        horizon: int,
        trust_pickles: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(input_observation_space, input_action_space, **kwargs)
        # Only the guide's entry is read (the config validated the repository on the driver): every
        # EnvRunner builds this piece at start-up.
        entry = read_entry(Path(repository_path).resolve() / guide_source, guide_source, trust_pickles)
        self.guide: RLModule = entry.load_module()
        self.horizon = horizon

    def __call__(
        self, *, rl_module: RLModule, batch: dict[str, Any], episodes: list, explore: bool | None = None, **kwargs: Any
    ) -> Any:
        # An episode not reset yet gets its first observation from this step, which the env spends on a
        # reset (Gymnasium's next-step autoreset): its action is ignored, so the learner's stays.
        rolled_in = [episode for episode in episodes if episode.is_reset and episode.t < self.horizon]
        if not rolled_in:
            return batch
        observations = np.stack([episode.get_observations(-1) for episode in rolled_in])
        guide_actions = dict(zip((episode.id_ for episode in rolled_in), deterministic_actions(self.guide, observations)))
        self.foreach_batch_item_change_in_place(
            batch, Columns.ACTIONS, lambda action, episode_id, *_: guide_actions.get(episode_id, action)
        )
        return batch



def deterministic_actions(module: RLModule, observations: np.ndarray) -> np.ndarray:
    """A module's deterministic actions for a batch of observations, in the normalised space RLlib's
    modules act in (before ``NormalizeAndClipActions`` maps them to the env's bounds)."""
    with torch.no_grad():
        inputs = module.forward_inference({Columns.OBS: torch.as_tensor(observations)})
        distribution = module.get_inference_action_dist_cls().from_logits(inputs[Columns.ACTION_DIST_INPUTS])
        return distribution.to_deterministic().sample().numpy()


def set_roll_in_horizon(env_runner: Any, horizon: int) -> None:
    """Give an EnvRunner's roll-in piece a new horizon (runs on the EnvRunner)."""
    for piece in env_runner._module_to_env.connectors:
        if isinstance(piece, GuideRollIn):
            piece.horizon = horizon
