"""FASTConfig's checks of what a run will load, made on the driver before Tune or any worker starts.

A bad target, repository entry or autoencoder then costs one message naming it (the key, the entry, the
file), not a failed trial deep inside a Ray worker. A mixin of :class:`fast_rllib.fast.config.FASTSettings`,
kept apart so that the config module holds the keys and this one the checks.
"""

from __future__ import annotations

import logging
from pathlib import Path

import gymnasium as gym
import numpy as np

from fast_rllib.embedding.autoencoder import FrameAutoencoder
from fast_rllib.fast.candidate_scores import missing_records_warning, transfer_records
from fast_rllib.repository import RepositoryError, SourceRepository
from fast_rllib.repository.policies import inference_state_of
from fast_rllib.service import SimilarityServiceSettings
from fast_rllib.tasks import get_task
from fast_rllib.tasks.frames import check_target_frames
from fast_rllib.tasks.registration import register_target
from fast_rllib.tasks.rllib_env import FRAME_SIZE_KEY, create_task_env

logger = logging.getLogger(__name__)


class DriverChecks:
    """The target, repository and autoencoder checks of ``FASTConfig.validate()``."""

    def _validate_target(self) -> None:
        """The target must be a known task (a Gymnasium id with ``target_description`` becomes one here)."""
        if not isinstance(self.env, str):
            self._value_error(
                f"env={self.env!r} must be a task id: a catalogue id, fast/generated-<seed>-v0, an id registered "
                "with fast_rllib.register_track / register_target, or a Gymnasium id with target_description set"
            )
        try:
            get_task(self.env)
        except ValueError as error:
            if self.env not in gym.registry:
                self._value_error(f"env={self.env!r}: {error}")
            if not isinstance(self.target_description, str) or not self.target_description.strip():
                self._value_error(
                    f"env={self.env!r} is a Gymnasium env without a description: set "
                    "training(target_description=...) to what the agent sees and must do"
                )
            register_target(self.env, self.env, self.target_description)

    def _validate_repository(self) -> None:
        """Everything FAST will load from the repository, loaded here on the driver, before Tune or any worker
        starts: every entry's files, recorded checksums and frames, its spaces against the target's, its module's
        weights read and their shapes compared with the target's network, and the frame autoencoder. A bad
        entry then costs one message naming it, not a failed trial deep inside a Ray worker."""
        path = Path(self.resolved_repository_path)
        try:
            env = create_task_env({k: v for k, v in self.env_config.items() if k != FRAME_SIZE_KEY}, task=get_task(self.env))
        except Exception as error:  # noqa: BLE001  (any failure of a user's env is reported with its id)
            self._value_error(f"env={self.env!r} with env_config={dict(self.env_config)!r} cannot be built: {error}")
        try:
            repository = SourceRepository.load(
                path,
                observation_space=env.observation_space,
                action_space=env.action_space,
                reference_state=self._target_policy_state(env),
                trust_pickles=bool(self.trust_pickles),
                states_only=True,
            )
            task = get_task(self.env)
            if task.kind == "custom":
                check_target_frames(env, task.frame_function)
            if self.candidate_score == "transferability" and transfer_records(repository) is None:
                logger.warning(missing_records_warning(repository))
        except RepositoryError as error:
            self._value_error(f"repository_path={str(path)!r} cannot serve target {self.env!r}: {error}")
            return
        except ValueError as error:
            self._value_error(f"env={self.env!r}: {error}")
        finally:
            env.close()
        if repository.frame_size != self.frame_size:
            self._value_error(
                f"frame_size={self.frame_size} but the repository at {str(path)!r} stores {repository.frame_size} px "
                "frames: set frame_size to match"
            )
        self._validate_autoencoder()

    def _target_policy_state(self, env: gym.Env) -> dict[str, np.ndarray]:
        """The policy tensors of the target's EnvRunner module (inference-only: cheap to build), which every
        source's weights must fit to be pushed to the EnvRunners."""
        try:
            module = self.get_rl_module_spec(env=env, inference_only=True).build()
        except Exception as error:  # noqa: BLE001  (any failure to build the target's module is a config error)
            self._value_error(f"the target's RLModule cannot be built from this config: {type(error).__name__}: {error}")
        return inference_state_of(module)

    def _validate_autoencoder(self) -> None:
        """The autoencoder the similarity service will load, loaded once here (a truncated file is named)."""
        settings = SimilarityServiceSettings.from_mapping(self.similarity_service_settings())
        directory = settings.resolved_autoencoder_dir()
        try:
            autoencoder = FrameAutoencoder.load(directory)
        except (OSError, ValueError) as error:
            self._value_error(f"autoencoder_dir={directory!r} cannot be used: {error}")
        if autoencoder.config.frame_size != self.frame_size:
            self._value_error(
                f"frame_size={self.frame_size} but the autoencoder at {directory!r} was trained on "
                f"{autoencoder.config.frame_size} px frames"
            )
