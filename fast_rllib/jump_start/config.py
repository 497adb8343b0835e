"""Jump-Start RL's settings: SAC's (through :class:`TransitionSACConfig`) plus the guide and its curriculum.

Every Jump-Start key is an explicit keyword of :meth:`JumpStartConfig.training` with RLlib's
``NotProvided`` default, as in :class:`~fast_rllib.fast.sac_config.FASTConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.connectors.module_to_env import NormalizeAndClipActions

from fast_rllib.jump_start.curriculum import RollInCurriculum, staged_horizons
from fast_rllib.jump_start.roll_in import GuideRollIn
from fast_rllib.repository import DEFAULT_REPOSITORY, RepositoryError, SourceRepository
from fast_rllib.tasks import get_task
from fast_rllib.tasks.rllib_env import create_task_env
from fast_rllib.training.keywords import provided_keys, reject_unknown_keywords
from fast_rllib.training.transition_sac import TransitionSACConfig


class JumpStartConfig(TransitionSACConfig):
    """SAC settings plus Jump-Start RL's; see :meth:`training` for its keys.

    Example::

        config = (
            JumpStartConfig()
            .environment("fast/indiana-v0")
            .training(guide_source="chicane-v0", roll_in_stages=4)
        )
        algo = config.build_algo()
    """

    def __init__(self, algo_class: type | None = None) -> None:
        from fast_rllib.jump_start.algorithm import JumpStart

        super().__init__(algo_class=algo_class or JumpStart)
        self.repository_path: str | Path | None = None
        self.trust_pickles: bool = False
        self.guide_source: str | None = None
        self.episode_steps: int | None = None
        self.roll_in_stages: int = 4
        self.stage_tolerance: float = 0.05
        self.stage_episodes: int = 10

    def training(
        self,
        *,
        repository_path: str | Path | None = NotProvided,
        trust_pickles: bool = NotProvided,
        guide_source: str = NotProvided,
        episode_steps: int | None = NotProvided,
        roll_in_stages: int = NotProvided,
        stage_tolerance: float = NotProvided,
        stage_episodes: int = NotProvided,
        **kwargs: Any,
    ) -> "JumpStartConfig":
        """Sets the training-related configuration.

        Args:
            repository_path: The source repository the guide comes from (default: the zoo shipped with
                the package).
            trust_pickles: Also load a guide still stored as pickles (an RLlib checkpoint written before the
                safetensors format); unpickling runs code: only for repositories whose author you trust.
            guide_source: The name of the repository entry whose policy rolls in; required.
            episode_steps: Env steps of a whole episode, the first roll-in horizon (default: read from
                the target env's time limit or its highway-env duration).
            roll_in_stages: Stages in which the horizon goes from a whole episode to 0.
            stage_tolerance: A stage ends once the mean return of its latest ``stage_episodes`` episodes
                reaches ``1 - stage_tolerance`` times the best such mean of an earlier stage.
            stage_episodes: Finished episodes per check of the stage's return.

        Returns:
            This updated config.
        """
        jump_start_keys = provided_keys(locals())
        reject_unknown_keywords(JumpStartConfig, kwargs)
        super().training(**kwargs)
        for key, value in jump_start_keys.items():
            setattr(self, key, value)
        return self

    @property
    def resolved_repository_path(self) -> str:
        return str(self.repository_path if self.repository_path is not None else DEFAULT_REPOSITORY)

    def curriculum(self) -> RollInCurriculum:
        """A fresh curriculum from these settings (``episode_steps`` is resolved by :meth:`validate`)."""
        return RollInCurriculum(staged_horizons(self.episode_steps, self.roll_in_stages), self.stage_tolerance, self.stage_episodes)

    def build_module_to_env_connector(self, env=None, spaces=None) -> ConnectorV2:
        """RLlib's pipeline plus the guide's roll-in, on training EnvRunners only: evaluation measures the
        learner alone."""
        pipeline = super().build_module_to_env_connector(env, spaces)
        if self.in_evaluation:
            return pipeline
        pipeline.insert_before(
            NormalizeAndClipActions,
            GuideRollIn(
                repository_path=self.resolved_repository_path, guide_source=self.guide_source,
                horizon=self.curriculum().horizon, trust_pickles=bool(self.trust_pickles),
            ),
        )
        return pipeline

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.env, str):
            self._value_error(f"env={self.env!r} must be a task id (a catalogue, generated or registered id)")
        try:
            env = create_task_env(self.env_config, task=get_task(self.env))
        except Exception as error:  # noqa: BLE001  (any failure of a user's env is reported with its id)
            self._value_error(f"env={self.env!r} with env_config={dict(self.env_config)!r} cannot be built: {error}")
        try:
            self._validate_guide(env)
            if self.episode_steps is None:
                self.episode_steps = episode_step_limit(env)
            self.curriculum()
        except ValueError as error:
            self._value_error(str(error))
        finally:
            env.close()

    def _validate_guide(self, env: gym.Env) -> None:
        path = self.resolved_repository_path
        try:
            repository = SourceRepository.load(
                path, observation_space=env.observation_space, action_space=env.action_space, check_modules=False,
                trust_pickles=bool(self.trust_pickles),
            )
        except RepositoryError as error:
            raise ValueError(f"repository_path={path!r} cannot serve target {self.env!r}: {error}") from error
        if not isinstance(self.guide_source, str):
            raise ValueError(f"guide_source={self.guide_source!r}: name the repository entry that guides; entries: {', '.join(repository.names)}")
        if self.guide_source not in repository:
            raise ValueError(
                f"guide_source={self.guide_source!r} is not an entry of the repository at {path!r}; "
                f"entries: {', '.join(repository.names)}"
            )
        try:  # every EnvRunner loads the guide at start-up: a damaged or untrusted one fails here, on the driver
            repository[self.guide_source].policy_weights()
        except RepositoryError as error:
            raise ValueError(f"guide_source={self.guide_source!r} cannot be loaded: {error}") from error


def episode_step_limit(env: gym.Env) -> int:
    """Env steps of a whole episode: the Gymnasium time limit, else a highway-env duration."""
    if env.spec is not None and env.spec.max_episode_steps:
        return int(env.spec.max_episode_steps)
    config = getattr(env.unwrapped, "config", {})
    if "duration" in config and "policy_frequency" in config:
        return round(config["duration"] * config["policy_frequency"])
    raise ValueError(f"env {env!r} has no time limit to read an episode's length from: set training(episode_steps=...)")
