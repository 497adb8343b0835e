"""What the catalogue knows about one task: its id, its kind, how to build it, and its description."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Mapping

TaskKind = Literal["racing", "driving"]
TASK_NAMESPACE = "fast"


@dataclass(frozen=True)
class TaskInfo:
    """A catalogue entry.

    ``config`` holds only what makes this task different (road, traffic, rewards); the observation,
    action and episode length come from :mod:`fast_rllib.tasks.spec` so that every task shares them.
    ``description`` is the text FAST embeds with BERT: what a person would see and what the agent must do.
    """

    task_id: str
    kind: TaskKind
    env_class: type
    description: str
    config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.task_id.startswith(f"{TASK_NAMESPACE}/"):
            raise ValueError(f"task_id={self.task_id!r} must live in the {TASK_NAMESPACE!r} namespace")
        if not self.description.strip():
            raise ValueError(f"task {self.task_id!r} has an empty description")
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))
