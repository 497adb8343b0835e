"""Your own targets: a racing track of your own, or any Gymnasium env, under an id you choose.

Registration puts the task in this process's catalogue, in Gymnasium's registry and in Tune's env
registry. Tune keeps env creators in the Ray cluster's key-value store, and the creator carries the whole
:class:`TaskInfo`, so remote EnvRunners and Tune trials build the task with no set-up of their own, and
:func:`fast_rllib.tasks.get_task` finds it in any process of the cluster.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym

from fast_rllib.tasks.catalogue import CATALOGUE_IDS, TASKS, make_task_env
from fast_rllib.tasks.racing import PolygonRacetrackEnv
from fast_rllib.tasks.task import FrameFunction, TaskInfo
from fast_rllib.tasks.track_builder import TrackGeometry


@dataclass(frozen=True)
class RacingTrack:
    """A closed racetrack: a polygon whose corners become arcs of the given radii (metres).

    ``traffic`` is a fixed number of slower IDM cars or a ``(fewest, most)`` range drawn at every reset;
    ``traffic_speed`` their speed range in m/s. ``description`` is what a person would see and what the
    agent must do: FAST's FT variant embeds it. See :mod:`fast_rllib.tasks.track_builder` for the
    geometry's conventions (the ego starts on the first edge, ``corners[0] -> corners[1]``).
    """

    corners: Sequence[tuple[float, float]]
    radii: Sequence[float]
    description: str
    lanes: int = 2
    lane_width: float = 5.0
    speed_limit: float = 10.0
    traffic: int | tuple[int, int] = 2
    traffic_speed: tuple[float, float] = (6.0, 9.0)

    def task(self, task_id: str) -> TaskInfo:
        """The track as a task, its geometry checked (a ``ValueError`` names the parameter at fault)."""
        geometry = TrackGeometry(
            corners=self.corners, radii=self.radii, lanes=self.lanes, lane_width=self.lane_width,
            speed_limit=self.speed_limit,
        )
        traffic = list(self.traffic) if isinstance(self.traffic, (list, tuple)) else self.traffic
        return TaskInfo(
            task_id=task_id,
            kind="racing",
            env_class=PolygonRacetrackEnv,
            config={
                "track": {
                    "corners": [list(corner) for corner in geometry.corners],
                    "radii": list(geometry.radii),
                    "lanes": geometry.lanes,
                    "lane_width": geometry.lane_width,
                },
                "speed_limit": geometry.speed_limit,
                "other_vehicles": traffic,
                "other_vehicles_speed": list(self.traffic_speed),
            },
            description=self.description,
        )


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
