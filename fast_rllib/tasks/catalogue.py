"""The task catalogue: every task id, how to build it, and its Gymnasium registration.

Env creators import everything they need (highway-env included), so that remote Ray EnvRunners, which
only unpickle a creator, know every id without any set-up of their own.
"""

from __future__ import annotations

from typing import Any, Mapping

import gymnasium as gym
from gymnasium.wrappers import FlattenObservation

from fast_rllib.tasks.driving import DRIVING_TASKS
from fast_rllib.tasks.generated import generated_task
from fast_rllib.tasks.racing import RACING_TASKS
from fast_rllib.tasks.spec import DEFAULT_DURATION_S, ActionMode, shared_config
from fast_rllib.tasks.task import TaskInfo

TASKS: dict[str, TaskInfo] = {task.task_id: task for task in (*RACING_TASKS, *DRIVING_TASKS)}
# Racing targets nothing shipped has seen: not sources of the default repository, not in the autoencoder's
# training frames, so that transfer to them measures transfer.
HELD_OUT_TARGETS: tuple[str, ...] = ("fast/indiana-v0", "fast/complex-v0")

# Keys a caller may not override: they would break the spec every task shares.
_SPEC_KEYS = frozenset(shared_config())


CATALOGUE_IDS: tuple[str, ...] = tuple(TASKS)


def task_ids(kind: str | None = None, *, held_out: bool = True) -> list[str]:
    """Catalogue ids, of one kind if given; ``held_out=False`` leaves out :data:`HELD_OUT_TARGETS`.

    Tasks registered later (a user's track, generated tracks) are not part of the catalogue."""
    return [
        task_id for task_id in CATALOGUE_IDS
        if (kind is None or TASKS[task_id].kind == kind) and (held_out or task_id not in HELD_OUT_TARGETS)
    ]


def get_task(task_id: str) -> TaskInfo:
    """The task behind an id: the catalogue's, one registered in this process, a generated track
    (``fast/generated-<seed>-v0``, built from its seed), or one registered in another process of this Ray
    cluster (found through the env creator Tune stores for it)."""
    task = TASKS.get(task_id)
    if task is None:
        task = generated_task(task_id) or _task_registered_in_cluster(task_id)
        if task is not None:
            from fast_rllib.tasks.rllib_env import register_rllib_env  # it imports this module

            # Known here from now on, and to Tune, so that the EnvRunners this process creates build it.
            TASKS[task_id] = task
            register_rllib_env(task)
    if task is None:
        raise ValueError(
            f"unknown task id {task_id!r}: not in the catalogue, not a generated track (fast/generated-<seed>-v0) "
            "and not registered with fast_rllib.register_track / register_target; catalogue ids: "
            f"{', '.join(sorted(task_ids()))}"
        )
    return task


def _task_registered_in_cluster(task_id: str) -> TaskInfo | None:
    import ray
    from ray.tune.registry import ENV_CREATOR, _global_registry

    if not ray.is_initialized() or not _global_registry.contains(ENV_CREATOR, task_id):
        return None
    creator = _global_registry.get(ENV_CREATOR, task_id)
    task = getattr(creator, "keywords", {}).get("task")
    return task if isinstance(task, TaskInfo) else None


def _checked_overrides(task: TaskInfo, overrides: Mapping[str, Any]) -> dict[str, Any]:
    allowed = set(task.env_class.default_config()) - _SPEC_KEYS
    for key in overrides:
        if key in _SPEC_KEYS:
            raise ValueError(
                f"config key {key!r} of task {task.task_id!r} is part of the shared spec; "
                "use the action_mode / duration_s arguments instead"
            )
        if key not in allowed:
            raise ValueError(
                f"unknown config key {key!r} for task {task.task_id!r}; allowed keys: {', '.join(sorted(allowed))}"
            )
    return dict(overrides)


def make_task_env(
    task_id: str,
    *,
    action_mode: ActionMode = "steering",
    duration_s: float = DEFAULT_DURATION_S,
    config: Mapping[str, Any] | None = None,
) -> gym.Env:
    """Build one task by id (see :func:`build_task_env`)."""
    return build_task_env(get_task(task_id), action_mode=action_mode, duration_s=duration_s, config=config)


def build_task_env(
    task: TaskInfo,
    *,
    action_mode: ActionMode = "steering",
    duration_s: float = DEFAULT_DURATION_S,
    config: Mapping[str, Any] | None = None,
) -> gym.Env:
    """Build one task. A highway-env task gets the shared spec: a flat 45-value float32 observation and a
    continuous action. A custom target is built by its own creator, with ``config`` as its argument.

    The env renders ``rgb_array`` frames, but only when asked (see :mod:`fast_rllib.tasks.frames`), so a
    training run that captures no frames pays nothing for rendering.
    """
    if task.env_creator is not None:
        return task.env_creator(dict(config or {}))
    overrides = _checked_overrides(task, config or {})
    env_config = {**task.config, **overrides, **shared_config(action_mode, duration_s)}
    env = task.env_class(config=env_config, render_mode="rgb_array")
    return FlattenObservation(env)


def register_tasks() -> None:
    """Register every known id with Gymnasium (idempotent)."""
    for task_id in TASKS:
        if task_id not in gym.registry:
            gym.register(id=task_id, entry_point=make_task_env, kwargs={"task_id": task_id})
