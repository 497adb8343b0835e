"""Non-racing source tasks (placeholder module, filled in by the driving-task work)."""

from __future__ import annotations

from fast_rllib.tasks.task import TaskInfo

DRIVING_TASKS: tuple[TaskInfo, ...] = ()
