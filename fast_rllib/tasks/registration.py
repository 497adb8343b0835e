"""Your own targets: a racing track of your own (:class:`RacingTrack`), or any Gymnasium env, under an id
you choose.

Registration puts the task in this process's catalogue, in Gymnasium's registry and in Tune's env
registry. Tune keeps env creators in the Ray cluster's key-value store, and the creator carries the whole
:class:`TaskInfo`, so remote EnvRunners and Tune trials build the task with no set-up of their own, and
:func:`fast_rllib.tasks.get_task` finds it in any process of the cluster.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import gymnasium as gym

from fast_rllib.tasks.catalogue import CATALOGUE_IDS, TASKS, make_task_env
from fast_rllib.tasks.racing import RacingTrack
from fast_rllib.tasks.task import FrameFunction, TaskInfo


def register_track(task_id: str, track: RacingTrack) -> str:
    """Register ``track`` under ``task_id`` (any namespace); returns the id. The env is built once here,
    so a bad track or traffic setting fails now, naming what is wrong."""
    task = track.task(task_id)
    register_task(task)
    make_task_env(task_id).close()
    return task_id


def register_target(
    task_id: str,
    env: str | Callable[[Mapping[str, Any]], gym.Env],
    description: str,
    frame_function: FrameFunction | None = None,
) -> str:
    """Register any Gymnasium env as a FAST target under ``task_id``; returns the id.

    ``env`` is a Gymnasium id (made with ``render_mode="rgb_array"``) or a creator ``config -> gym.Env``.
    Its observation and action spaces must be the repository's (``FASTConfig.validate()`` checks them);
    ``frame_function`` (``env -> (H, W, 3) uint8``) replaces ``env.render()`` for the frames FAST embeds.
    """
    creator = functools.partial(_make_gymnasium_env, env) if isinstance(env, str) else env
    if not callable(creator):
        raise TypeError(f"target {task_id!r}: env={env!r} must be a Gymnasium id or a callable config -> gym.Env")
    register_task(
        TaskInfo(task_id=task_id, kind="custom", description=description, env_creator=creator, frame_function=frame_function)
    )
    return task_id


def _make_gymnasium_env(gym_id: str, config: Mapping[str, Any]) -> gym.Env:
    return gym.make(gym_id, render_mode="rgb_array", **dict(config))


def register_task(task: TaskInfo) -> None:
    """Add ``task`` to this process's catalogue, Gymnasium and Tune (and so to every Ray worker)."""
    from fast_rllib.tasks.rllib_env import register_rllib_env

    if task.task_id in CATALOGUE_IDS:
        raise ValueError(f"task id {task.task_id!r} is a catalogue task; choose another id for your own target")
    TASKS[task.task_id] = task
    if task.env_creator is None:
        gym.register(id=task.task_id, entry_point=make_task_env, kwargs={"task_id": task.task_id})
    register_rllib_env(task)
