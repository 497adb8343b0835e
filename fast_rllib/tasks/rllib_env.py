"""Env creators for RLlib: every catalogue id is also a Tune-registered env.

Remote EnvRunners receive only the pickled creator. Pickling it by reference to this module means that
unpickling imports ``fast_rllib`` (and with it highway-env and our Gymnasium ids) in the worker, so ids
never end up unknown there (which RLlib would report as a misleading ``IndexError`` on the driver).
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import gymnasium as gym
import ray
from ray import tune

from fast_rllib.tasks.catalogue import TASKS, make_task_env
from fast_rllib.tasks.frames import FrameCapture

FRAME_SIZE_KEY = "frame_size"


def create_task_env(env_config: Mapping[str, Any], *, task_id: str) -> gym.Env:
    """RLlib env creator. ``env_config`` takes :func:`make_task_env`'s keyword arguments, plus
    ``frame_size``: when given, the env is wrapped in :class:`FrameCapture` (capture off until asked)."""
    options = dict(env_config)
    frame_size = options.pop(FRAME_SIZE_KEY, None)
    env = make_task_env(task_id, **options)
    return env if frame_size is None else FrameCapture(env, frame_size)


def register_rllib_envs() -> None:
    """Register every id with Tune, now and again after every later ``ray.init`` of this process.

    Tune keeps env creators in the cluster's key-value store and flushes its pending registrations only
    at a process's first ``ray.init``: after ``ray.shutdown()`` and a new ``ray.init()`` (a notebook, a
    test session) remote EnvRunners would no longer know the ids. Ray runs its post-init hooks (Tune's own
    flush is one) at every init, so registering there keeps every new cluster informed.
    """
    for task_id in TASKS:
        tune.register_env(task_id, functools.partial(create_task_env, task_id=task_id))
    hooks = ray._private.worker._post_init_hooks
    if register_rllib_envs not in hooks:
        hooks.append(register_rllib_envs)
