"""Running a policy for whole episodes on fixed seeds, outside any Algorithm.

Every return this project reports (a source's competence, learning curves, baselines) is measured here,
the same way: one episode per seed, the policy alone, deterministic for RLModules. Fixed seeds make
returns comparable across policies and methods. RLlib's ``algo.evaluate()`` samples whatever episodes its
evaluation EnvRunners reach; this also works on a bare RLModule (a repository source, a checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.utils.spaces.space_utils import unsquash_action

from fast_rllib.tasks import get_task, make_task_env
from fast_rllib.tasks.frames import DEFAULT_FRAME_SIZE, STACK_LENGTH, FrameCapture

Policy = Callable[[np.ndarray], np.ndarray]


def _module_device(module: RLModule) -> torch.device:
    parameter = next(iter(module.parameters()), None) if isinstance(module, torch.nn.Module) else None
    return parameter.device if parameter is not None else torch.device("cpu")


def module_policy(module: RLModule) -> Policy:
    """A deterministic policy for one flat observation, computing exactly what RLlib's EnvRunners send to
    the env with ``explore=False``: the action distribution's ``to_deterministic()`` sample, then
    ``unsquash_action`` to the action space's bounds (RLlib's default ``normalize_actions=True``).

    Matching RLlib (rather than, say, ``tanh`` of the mean) means a return measured here is the return
    ``algo.evaluate()`` would report. Note that for SAC's squashed Gaussian RLlib's deterministic action
    is the Gaussian's mean *before* tanh, clipped to the bounds by ``unsquash_action``. A module that picks
    its own actions (DQN's greedy ``actions``) is taken at its word, as RLlib's ``GetActions`` does.
    """
    observation_shape = module.observation_space.shape
    observation_dtype = module.observation_space.dtype
    action_space = module.action_space
    distribution_class = module.get_inference_action_dist_cls()
    device = _module_device(module)

    def policy(observation: np.ndarray) -> np.ndarray:
        observation = np.asarray(observation, dtype=observation_dtype)
        if observation.shape != observation_shape:
            raise ValueError(f"expected one observation of shape {observation_shape}, got {observation.shape}")
        batch = {Columns.OBS: torch.as_tensor(observation[None], device=device)}
        with torch.no_grad():
            output = module.forward_inference(batch)
            if Columns.ACTIONS in output:
                return np.asarray(output[Columns.ACTIONS][0].cpu().numpy(), dtype=action_space.dtype)
            action = distribution_class.from_logits(output[Columns.ACTION_DIST_INPUTS]).to_deterministic().sample()
        action = action[0].cpu().numpy()
        return np.asarray(unsquash_action(action, action_space), dtype=action_space.dtype)

    return policy


@dataclass(frozen=True)
class EpisodeRecord:
    seed: int
    episode_return: float
    length: int
    # uint8 (4, H, W) stacks of consecutive frames, one every 4 steps in episode order; empty when frames
    # were not captured. Which of them a repository keeps is decided later (see fast_rllib.build.recording.best_stacks).
    stacks: tuple[np.ndarray, ...] = ()


def run_episodes(
    task_id: str,
    policy: Policy,
    *,
    episodes: int,
    seed: int = 0,
    frame_size: int | None = DEFAULT_FRAME_SIZE,
    task_config: dict | None = None,
    action_mode: str = "steering",
) -> list[EpisodeRecord]:
    """Run ``episodes`` full episodes, episode ``i`` reset with seed ``seed + i`` (fixed seeds make returns
    comparable across policies).

    With a ``frame_size`` every step is rendered (which costs more than the step) and each record keeps
    its episode's frames as non-overlapping 4-frame stacks, so
    that the caller can choose where in the episode a task is shown from.
    """
    if episodes < 1:
        raise ValueError(f"episodes={episodes!r} must be a positive integer")
    env = make_task_env(task_id, action_mode=action_mode, config=task_config)
    if frame_size is not None:
        env = FrameCapture(env, frame_size, get_task(task_id).frame_function, capturing=True)
    env.action_space.seed(seed)
    records = []
    try:
        for index in range(episodes):
            observation, _ = env.reset(seed=seed + index)
            total, length, done, stacks = 0.0, 0, False, []
            while not done:
                observation, reward, terminated, truncated, _ = env.step(policy(observation))
                total += float(reward)
                length += 1
                done = terminated or truncated
                if frame_size is not None and env.frames.full and length % STACK_LENGTH == 0:
                    stacks.append(env.frame_stack())
            if not stacks and frame_size is not None and env.frames.full:
                stacks.append(env.frame_stack())  # an episode of 3 steps: its only stack
            records.append(EpisodeRecord(seed + index, total, length, tuple(stacks)))
    finally:
        env.close()
    return records


def random_policy(action_space: gym.spaces.Box | gym.spaces.Discrete, seed: int = 0) -> Policy:
    """Uniform random actions: the floor a trained source must clear."""
    rng = np.random.default_rng(seed)
    if isinstance(action_space, gym.spaces.Discrete):
        return lambda observation: int(action_space.start + rng.integers(action_space.n))
    return lambda observation: rng.uniform(action_space.low, action_space.high).astype(action_space.dtype)


def mean_return(records: list[EpisodeRecord]) -> float:
    return float(np.mean([record.episode_return for record in records]))
