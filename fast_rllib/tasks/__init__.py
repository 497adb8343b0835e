"""The task catalogue shared by sources and targets."""

from fast_rllib.tasks.catalogue import HELD_OUT_TARGETS, TASKS, get_task, make_task_env, register_tasks, task_ids
from fast_rllib.tasks.spec import ACTION_MODES, OBSERVATION_SIZE, ActionMode
from fast_rllib.tasks.task import TaskInfo

__all__ = [
    "ACTION_MODES",
    "HELD_OUT_TARGETS",
    "OBSERVATION_SIZE",
    "TASKS",
    "ActionMode",
    "TaskInfo",
    "get_task",
    "make_task_env",
    "register_tasks",
    "task_ids",
]
