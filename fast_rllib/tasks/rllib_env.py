"""Env creators for RLlib: every known task id is also a Tune-registered env.

Remote EnvRunners receive only the pickled creator: this module's function (by reference, so unpickling
imports ``fast_rllib`` and highway-env in the worker) bound to the task's :class:`TaskInfo` (by value). A
worker therefore builds any task, a user's own included, without knowing its id beforehand (an unknown id
would show on the driver as RLlib's misleading ``IndexError``).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import gymnasium as gym
import ray
from ray import tune

from fast_rllib.tasks.catalogue import TASKS, build_task_env
from fast_rllib.tasks.frames import FrameCapture
from fast_rllib.tasks.task import TaskInfo

FRAME_SIZE_KEY = "frame_size"


def create_task_env(env_config: Mapping[str, Any], *, task: TaskInfo) -> gym.Env:
    """RLlib env creator. ``env_config`` takes :func:`build_task_env`'s keyword arguments (a custom target:
    its creator's config), plus ``frame_size``: when given, the env is wrapped in :class:`FrameCapture`
    (capture off until asked)."""
    options = dict(env_config)
    frame_size = options.pop(FRAME_SIZE_KEY, None)
    env = build_task_env(task, config=options) if task.env_creator is not None else build_task_env(task, **options)
    return env if frame_size is None else FrameCapture(env, frame_size, task.frame_function)


def register_rllib_env(task: TaskInfo) -> None:
    tune.register_env(task.task_id, functools.partial(create_task_env, task=task))


def register_rllib_envs() -> None:
    """Register every id with Tune, now and again after every later ``ray.init`` of this process.

    Tune keeps env creators in the cluster's key-value store and flushes its pending registrations only
    at a process's first ``ray.init``: after ``ray.shutdown()`` and a new ``ray.init()`` (a notebook, a
    test session) remote EnvRunners would no longer know the ids. Ray runs its post-init hooks (Tune's own
    flush is one) at every init, so registering there keeps every new cluster informed.
    """
    for task in list(TASKS.values()):
        register_rllib_env(task)
    again_after_every_ray_init(register_rllib_envs)


def again_after_every_ray_init(register: Callable[[], None]) -> None:
    """Run ``register`` (which registers something with Tune) again after every later ``ray.init`` of this
    process, through Ray's post-init hooks (Tune's own flush is one), once however often it is asked."""
    hooks = ray._private.worker._post_init_hooks
    if register not in hooks:
        hooks.append(register)
