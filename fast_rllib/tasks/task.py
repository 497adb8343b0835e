"""What the catalogue knows about one task: its id, its kind, how to build it, and its description."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Literal, Mapping

import gymnasium as gym
import numpy as np

# "custom": any Gymnasium env a user registers as a target (not built on the shared highway-env spec).
TaskKind = Literal["racing", "driving", "custom"]
TASK_NAMESPACE = "fast"
FrameFunction = Callable[[gym.Env], np.ndarray]


@dataclass(frozen=True)
class TaskInfo:
    """A task that can be built anywhere: on the driver and inside any Ray worker.

    A catalogue or track task names an ``env_class`` (a highway-env env) and the ``config`` that makes it
    this task (road, traffic, rewards); the observation, action and episode length come from
    :mod:`fast_rllib.tasks.spec` so that every such task shares them. A custom target has an
    ``env_creator`` instead (``config -> gym.Env`` rendering ``rgb_array`` frames) and, optionally, a
    ``frame_function`` (``env -> (H, W, 3) uint8``; default: ``env.render()``). ``description`` is the text
    FAST embeds with BERT: what a person would see and what the agent must do.

    A ``TaskInfo`` pickles by value (classes and functions by reference), which is how a user's task
    reaches remote EnvRunners: its env creator carries it.
    """

    task_id: str
    kind: TaskKind
    description: str
    env_class: type | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    env_creator: Callable[[Mapping[str, Any]], gym.Env] | None = None
    frame_function: FrameFunction | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str) or not self.task_id.strip() or any(c.isspace() for c in self.task_id):
            raise ValueError(f"task_id={self.task_id!r} must be a non-empty id without spaces, e.g. 'my/track-v0'")
        if not isinstance(self.description, str) or not self.description.strip():
            raise ValueError(
                f"task {self.task_id!r} has no description ({self.description!r}): FAST's FT variant embeds it"
            )
        if (self.env_class is None) == (self.env_creator is None):
            raise ValueError(f"task {self.task_id!r} needs exactly one of env_class (highway-env) or env_creator")
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))

    def __reduce__(self):
        # MappingProxyType does not pickle; rebuild from a plain dict.
        return (
            TaskInfo,
            (self.task_id, self.kind, self.description, self.env_class, dict(self.config), self.env_creator, self.frame_function),
        )
