"""Frame stacks gathered by driving a task: training data for the autoencoder, and target snapshots."""

from __future__ import annotations

from typing import Callable

import numpy as np

from fast_rllib.tasks import get_task, make_task_env
from fast_rllib.tasks.frames import STACK_LENGTH, FrameCapture

Policy = Callable[[np.ndarray], np.ndarray]


def collect_frame_stacks(
    task_id: str,
    count: int,
    frame_size: int,
    policy: Policy | None = None,
    stride: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Drive ``task_id`` with ``policy`` (random actions if None) and keep a 4-frame stack every ``stride``
    steps: uint8 (count, 4, frame_size, frame_size). Spacing the stacks out keeps them from being
    near-copies of each other, which would make a held-out split meaningless."""
    if count < 1 or stride < 1:
        raise ValueError(f"count={count!r} and stride={stride!r} must be positive integers")
    env = FrameCapture(make_task_env(task_id), frame_size, get_task(task_id).frame_function, capturing=True)
    env.action_space.seed(seed)
    observation, _ = env.reset(seed=seed)
    stacks: list[np.ndarray] = []
    steps_since_stack = 0
    while len(stacks) < count:
        action = env.action_space.sample() if policy is None else policy(observation)
        observation, _, terminated, truncated, _ = env.step(action)
        steps_since_stack += 1
        if env.frames.full and steps_since_stack >= max(stride, STACK_LENGTH):
            stacks.append(env.frame_stack())
            steps_since_stack = 0
        if terminated or truncated:
            observation, _ = env.reset()
            steps_since_stack = 0
    env.close()
    return np.stack(stacks)
