"""Building a source repository: train SAC (or DQN) on each task, keep the best policy, record it, store it.

What ``fast-rllib repo build`` runs. Each source is trained with the shared settings
(:func:`fast_rllib.training.settings.racing_sac_config`; with ``algorithm="dqn"``
:func:`~fast_rllib.training.settings.racing_dqn_config` on the discrete-steering variant of the task) until its deterministic evaluation return reaches
``target_fraction`` of the lane-following controller's return on the same seeds, or until the env-step
budget runs out; the best evaluated policy (not the last) is the one stored. Entries already in the
repository are skipped, so an interrupted build resumes where it stopped; each entry is written
atomically by :func:`fast_rllib.build.recording.add_source`.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence, get_args

import numpy as np
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.rl_module import RLModule

from fast_rllib.build.evaluation import mean_return, module_policy, run_episodes
from fast_rllib.build.recording import DEFAULT_KEPT_EPISODES, DEFAULT_STACKS_PER_EPISODE, add_source
from fast_rllib.repository import SourceEntry, default_entry_name, entry_names
from fast_rllib.tasks import get_task
from fast_rllib.tasks.controller import LaneFollowingController
from fast_rllib.training.settings import UPDATES_PER_ENV_STEP, racing_dqn_config, racing_sac_config

# Evaluation seeds are far from the training seeds (small integers) so no episode is seen in training.
EVALUATION_SEED = 1000

SourceAlgorithm = Literal["sac", "dqn"]
SOURCE_ALGORITHMS: tuple[str, ...] = get_args(SourceAlgorithm)


@dataclass(frozen=True)
class BuildSettings:
    max_env_steps: int = 30_000
    evaluate_every: int = 2_000
    evaluation_episodes: int = 10
    target_fraction: float = 0.9
    # Sources may learn with more updates per env step than the benchmark's SAC: their data efficiency is
    # not what is measured, their competence is.
    updates_per_env_step: float = UPDATES_PER_ENV_STEP
    record_episodes: int = 15
    keep: int = DEFAULT_KEPT_EPISODES
    stacks_per_episode: int = DEFAULT_STACKS_PER_EPISODE
    seed: int = 0
    # "dqn": discrete steering (the task spec's ``discrete_steering`` action mode), for DQN targets.
    algorithm: SourceAlgorithm = "sac"

    @property
    def action_mode(self) -> str:
        return "discrete_steering" if self.algorithm == "dqn" else "steering"

    def __post_init__(self) -> None:
        if self.algorithm not in SOURCE_ALGORITHMS:
            raise ValueError(f"algorithm={self.algorithm!r} is not supported; allowed values: {', '.join(SOURCE_ALGORITHMS)}")
        positive = ("max_env_steps", "evaluate_every", "evaluation_episodes", "record_episodes", "keep", "stacks_per_episode")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be a positive integer")
        if not self.updates_per_env_step > 0:
            raise ValueError(f"updates_per_env_step={self.updates_per_env_step!r} must be > 0")


def _evaluate(task_id: str, policy: Callable, settings: BuildSettings) -> float:
    records = run_episodes(
        task_id, policy, episodes=settings.evaluation_episodes, seed=EVALUATION_SEED, frame_size=None,
        action_mode=settings.action_mode,
    )
    return mean_return(records)


def train_source(
    task_id: str, settings: BuildSettings, log: Callable[[str], None] = print
) -> tuple[RLModule, int, float]:
    """Train until competent or out of budget; returns (best module, env steps trained, its return)."""
    goal = settings.target_fraction * _evaluate(task_id, LaneFollowingController(settings.action_mode), settings)
    shared_settings = racing_dqn_config if settings.algorithm == "dqn" else racing_sac_config
    config = shared_settings(task_id, seed=settings.seed)
    algo = config.training(training_intensity=config.train_batch_size_per_learner * settings.updates_per_env_step).build_algo()
    best_module, best_return, best_steps = None, -np.inf, 0
    next_evaluation, start = settings.evaluate_every, time.perf_counter()
    try:
        while True:
            steps = int(algo.train()["num_env_steps_sampled_lifetime"])
            if steps < next_evaluation and steps < settings.max_env_steps:
                continue
            next_evaluation += settings.evaluate_every
            module = algo.learner_group._learner.module[DEFAULT_MODULE_ID]
            evaluation_return = _evaluate(task_id, module_policy(module), settings)
            log(
                f"{task_id}: {steps} env steps, return {evaluation_return:.1f} (goal {goal:.1f}, "
                f"{time.perf_counter() - start:.0f} s)"
            )
            if evaluation_return > best_return:
                # A copy: later updates must not change the kept policy.
                best_module, best_return, best_steps = copy.deepcopy(module).eval(), evaluation_return, steps
            if evaluation_return >= goal or steps >= settings.max_env_steps:
                return best_module, best_steps, best_return
    finally:
        algo.stop()


def build_repository(
    task_ids: Sequence[str],
    root: str | Path,
    settings: BuildSettings = BuildSettings(),
    log: Callable[[str], None] = print,
    *,
    overwrite: bool = False,
) -> list[SourceEntry]:
    """Train and add one source per task id, skipping tasks whose entry already exists (unless
    ``overwrite``: then the entry is retrained and replaced atomically once the new one is ready)."""
    root = Path(root)
    for task_id in task_ids:
        get_task(task_id)  # unknown ids fail before any training starts
    existing = set(entry_names(root))
    built = []
    for task_id in task_ids:
        name = default_entry_name(task_id)
        if name in existing and not overwrite:
            log(f"{task_id}: entry {name!r} exists, skipped")
            continue
        module, steps, _ = train_source(task_id, settings, log)
        entry = add_source(
            root, module, task_id, name=name, episodes=settings.record_episodes, keep=settings.keep,
            stacks_per_episode=settings.stacks_per_episode,
            seed=EVALUATION_SEED, training_env_steps=steps, overwrite=overwrite,
        )
        log(
            f"{task_id}: stored {name!r}: return {entry.info['evaluation_return']:.1f}, lane follower "
            f"{entry.info['controller_return']:.1f}, random {entry.info['random_return']:.1f}"
        )
        built.append(entry)
    return built
