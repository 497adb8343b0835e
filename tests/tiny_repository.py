"""A real, small source repository for end-to-end tests: untrained 32x32 SAC policies on two tasks (or DQN
Q networks on two tasks' discrete-steering variants, the motorway swapped for the roundabout), their
recorded 32 px frame stacks, and an autoencoder trained on those frames. Everything is built the way the
shipped zoo is (``add_source``, ``train_autoencoder``), only smaller, so a FAST run takes seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

from fast_rllib.fast import FASTConfig, FASTDQNConfig
from fast_rllib.fast.selection import TARGET
from fast_rllib.embedding.autoencoder import AutoencoderConfig
from fast_rllib.build.autoencoder_training import TrainingSettings, train_autoencoder
from fast_rllib.build.frame_collection import collect_frame_stacks
from fast_rllib.build.recording import add_source
from fast_rllib.repository import SourceRepository
from fast_rllib.repository.policies import action_inputs
from fast_rllib.repository.layout import AUTOENCODER_DIR
from fast_rllib.tasks import make_task_env
from fast_rllib.training import TransitionDQNConfig, TransitionSACConfig
from fast_rllib.training.settings import racing_dqn_config, racing_sac_config

FRAME_SIZE = 32
HIDDEN = [32, 32]
SOURCE_TASKS = ("fast/racetrack-oval-v0", "fast/highway-v0")
# An untrained Q network's greedy steering leaves the motorway within a step or two, before a frame stack
# exists; at the roundabout's speed it lasts long enough to record one.
DISCRETE_SOURCE_TASKS = ("fast/racetrack-oval-v0", "fast/roundabout-v0")
TARGET_TASK = "fast/indiana-v0"


def _model_config(hidden: list[int] = HIDDEN) -> DefaultModelConfig:
    return DefaultModelConfig(fcnet_hiddens=hidden, fcnet_activation="relu")


def tiny_module(task_id: str, seed: int, hidden: list[int] = HIDDEN, *, discrete: bool = False):
    """An untrained SAC module (what a source's policy network looks like), or with ``discrete`` a DQN
    module on the task's discrete-steering variant, by default of the tiny size."""
    torch.manual_seed(seed)
    env = make_task_env(task_id, action_mode="discrete_steering" if discrete else "steering")
    config = TransitionDQNConfig() if discrete else TransitionSACConfig()
    spec = config.rl_module(model_config=_model_config(hidden)).get_rl_module_spec(env=env)
    env.close()
    return spec.build()


def build_tiny_repository(root: Path, hidden: list[int] = HIDDEN, *, discrete: bool = False) -> Path:
    """Sources with ``hidden`` layers (a target must have the same sizes), 32 px frames, an autoencoder;
    ``discrete``: DQN sources for FAST on DQN."""
    source_tasks = DISCRETE_SOURCE_TASKS if discrete else SOURCE_TASKS
    for seed, task_id in enumerate(source_tasks):
        add_source(
            root, tiny_module(task_id, seed, hidden, discrete=discrete), task_id, episodes=3, keep=2,
            stacks_per_episode=1, frame_size=FRAME_SIZE, seed=seed, baseline_episodes=0,
        )
    repository = SourceRepository.load(root, check_modules=False)
    stacks = [entry.frames for entry in repository]
    stacks += [collect_frame_stacks(task, 12, FRAME_SIZE, stride=3, seed=7) for task in (*source_tasks, TARGET_TASK)]
    settings = TrainingSettings(max_epochs=8, patience=8, batch_size=8, seed=0)
    autoencoder, _ = train_autoencoder(np.concatenate(stacks), AutoencoderConfig(FRAME_SIZE, 16), settings)
    autoencoder.save(root / AUTOENCODER_DIR)
    return root


def tiny_sac_config(config: TransitionSACConfig | None = None) -> TransitionSACConfig:
    """The tiny runs' SAC settings on the held-out Indiana oval (TransitionSAC unless ``config`` is given)."""
    return _tiny(racing_sac_config(TARGET_TASK, env_config={"duration_s": 10.0}, config=config))


def tiny_dqn_config(config: TransitionDQNConfig | None = None) -> TransitionDQNConfig:
    """The tiny runs' DQN settings on Indiana's discrete-steering variant (TransitionDQN unless ``config``)."""
    return _tiny(racing_dqn_config(TARGET_TASK, env_config={"duration_s": 10.0}, config=config))


def _tiny(config):
    return (
        config.env_runners(num_envs_per_env_runner=2)
        .training(train_batch_size_per_learner=32, num_steps_sampled_before_learning_starts=32, training_intensity=8)
        .rl_module(model_config=_model_config())
        .reporting(min_sample_timesteps_per_iteration=64)
    )


def tiny_fast_config(repository: Path, *, algorithm: str = "sac", **training: object) -> FASTConfig | FASTDQNConfig:
    """FAST with the tiny SAC (or ``algorithm="dqn"``: DQN) settings and the tiny repository: decisions every
    32 env steps, the paper's rule with Θ = 0 (any source qualifies) and no stepped release (a release
    waiting for the target would let it drive), so that the mechanics tests know who drives."""
    config = tiny_dqn_config(FASTDQNConfig()) if algorithm == "dqn" else tiny_sac_config(FASTConfig())
    return config.training(
        **{
            "repository_path": str(repository),
            "frame_size": FRAME_SIZE,
            "similarity_interval": 32,
            "selection_rule": "paper",
            "similarity_threshold": 0.0,
            "modality": "F",
            "similarity_metric": "minmax_cosine",
            "similarity_service_name": "fast_test_service",
            "distillation_release_step": None,
            **training,
        },
    )


# Comparing policies: what a module, or a remote EnvRunner's module, computes for fixed observations
# (its action distribution inputs, or a DQN module's Q values: fast_rllib.repository.policies.action_inputs).


def policy_outputs(module) -> torch.Tensor:
    return action_inputs(module, module.observation_space)


def train_until_a_source_drove_a_whole_step(algo, *, min_steps: int = 1, max_steps: int = 6) -> tuple[dict, str]:
    """Train at least ``min_steps`` steps, then until one step started and ended with the same source driving.

    Returns that step's result and the source. A source chosen during a step drives from the next step's
    sampling request on (its weights travel with it), and when the decision lands depends on when the frame
    capture completes; only after such a step do the remote EnvRunners certainly hold the source named by
    ``algo.behaviour``. A fixed number of steps can end with a source chosen but not yet sent.
    """
    for step in range(1, max_steps + 1):
        driving = algo.behaviour
        result = algo.train()
        if step >= min_steps and driving != TARGET and algo.behaviour == driving:
            return result, driving
    raise AssertionError(
        f"no step of {max_steps} started and ended with the same source driving (last step: {driving} -> {algo.behaviour})"
    )


def runner_outputs(algo) -> list[tuple[int, torch.Tensor]]:
    """(process id, ``policy_outputs``) of every healthy remote EnvRunner's module.

    The function sent to the EnvRunners must not name anything of this module: workers cannot import it
    (they import fast_rllib).
    """
    return algo.env_runner_group.foreach_env_runner(
        lambda runner: (__import__("os").getpid(), action_inputs(runner.module, runner.module.observation_space)),
        local_env_runner=False,
    )
