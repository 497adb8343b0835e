"""Non-racing source tasks, one scene per module: highway overtaking, a motorway merge, a roundabout and an
intersection (the shared observation, vehicles and reward rules are in :mod:`.common`)."""

from fast_rllib.tasks.driving.highway import HIGHWAY_TASK
from fast_rllib.tasks.driving.intersection import INTERSECTION_TASK
from fast_rllib.tasks.driving.merge import MERGE_TASK
from fast_rllib.tasks.driving.roundabout import ROUNDABOUT_TASK
from fast_rllib.tasks.task import TaskInfo

DRIVING_TASKS: tuple[TaskInfo, ...] = (HIGHWAY_TASK, MERGE_TASK, ROUNDABOUT_TASK, INTERSECTION_TASK)

__all__ = ["DRIVING_TASKS"]
