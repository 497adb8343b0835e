"""Jump-Start RL (Uchendu et al., 2022) on RLlib: SAC whose episodes start under a guide policy.

The guide (a frozen source of the repository) drives the first ``h`` env steps of every training
episode and the learner drives the rest; ``h`` shrinks from a whole episode to 0 in stages
(:mod:`.curriculum`). It is the closest published alternative to FAST's switching, and the benchmark's
``jsrl`` baseline. One iteration of :meth:`JumpStart.training_step`:

1. queue the current **horizon** on every EnvRunner (a restarted one catches up within one round);
2. **sample** one round: each EnvRunner's :class:`~.roll_in.GuideRollIn` piece swaps in the guide's
   action at steps below the horizon;
3. **store** every transition, whoever acted: SAC trains the learner on all of it;
4. **account** finished episodes to the stage they started in, and move the curriculum on;
5. **update** the learner and push its weights, as SAC does.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Collection

import numpy as np
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from fast_rllib.jump_start.config import JumpStartConfig
from fast_rllib.jump_start.curriculum import RollInCurriculum
from fast_rllib.jump_start.roll_in import set_roll_in_horizon
from fast_rllib.training.transition_replay import count_env_steps
from fast_rllib.training.transition_sac import TransitionSAC

logger = logging.getLogger(__name__)

CURRICULUM_STATE = "jump_start_curriculum"
_HORIZON_TAG = "jump_start_horizon"


class JumpStart(TransitionSAC):
    """Jump-Start RL's training step on top of :class:`TransitionSAC` (see the module docstring)."""

    config: JumpStartConfig

    @classmethod
    def get_default_config(cls) -> JumpStartConfig:
        return JumpStartConfig()

    def setup(self, config: JumpStartConfig) -> None:
        super().setup(config)
        self.curriculum: RollInCurriculum = self.config.curriculum()
        # episode id -> [stage at its start, return so far]: episodes span sampling rounds.
        self._open_episodes: dict[str, list] = {}
        self.guide_env_steps = 0

    def training_step(self) -> None:
        self._send_horizon()
        episodes, stage = self.sample_round(label=self.curriculum.stage)
        self.store(episodes)
        self._account(episodes, stage)
        if self.update(count_env_steps(episodes)):
            self.push_target_weights()
        self._log_state()

    def _send_horizon(self) -> None:
        set_horizon = functools.partial(set_roll_in_horizon, horizon=self.curriculum.horizon)
        if self.env_runner_group.num_remote_env_runners() > 0:
            self.queue_on_env_runners(set_horizon, _HORIZON_TAG)
        else:
            set_horizon(self.env_runner_group.local_env_runner)

    def _account(self, episodes: list[SingleAgentEpisode], round_stage: int) -> None:
        """Attribute each finished episode's return to the stage whose horizon it started under.

        ``round_stage`` is the stage of the request that sampled this round (with sample-ahead, one stage
        change older than the curriculum may be): an episode begun before a change cannot move the new
        stage on.
        """
        horizon = self.curriculum.horizons[round_stage]
        for episode in episodes:
            self.guide_env_steps += min(max(horizon - episode.t_started, 0), len(episode))
            stage, total = self._open_episodes.setdefault(episode.id_, [round_stage, 0.0])
            total += float(np.sum(episode.get_rewards()))
            self._open_episodes[episode.id_][1] = total
            if episode.is_done:
                del self._open_episodes[episode.id_]
                if self.curriculum.record_episode(stage, total):
                    logger.info(
                        "Jump-Start: stage %d, the guide now drives the first %d steps of each episode",
                        self.curriculum.stage, self.curriculum.horizon,
                    )

    def _log_state(self) -> None:
        curriculum = self.curriculum
        self.metrics.log_value(("jump_start", "stage"), curriculum.stage, window=1)
        self.metrics.log_value(("jump_start", "roll_in_horizon"), curriculum.horizon, window=1)
        self.metrics.log_value(("jump_start", "guide_env_steps"), self.guide_env_steps, window=1)
        if curriculum.best_return is not None:
            self.metrics.log_value(("jump_start", "best_stage_return"), curriculum.best_return, window=1)

    # Checkpoints -------------------------------------------------------------------------------------

    def get_state(
        self, components: str | Collection[str] | None = None, *, not_components: str | Collection[str] | None = None, **kwargs
    ) -> dict[str, Any]:
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component(CURRICULUM_STATE, components, not_components):
            state[CURRICULUM_STATE] = {**self.curriculum.to_dict(), "guide_env_steps": self.guide_env_steps}
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        if CURRICULUM_STATE in state:
            saved = state[CURRICULUM_STATE]
            self.curriculum = self.curriculum.restored(saved)
            self.guide_env_steps = saved["guide_env_steps"]
