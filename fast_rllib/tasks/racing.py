"""Racing tasks: highway-env's own tracks and the tracks drawn by our parametric builder.

Every racing task keeps highway-env's racetrack reward (lane centring, a small steering penalty, zero on
a crash or off the road: about 0..1 per step), so returns are comparable across tracks.
"""

from __future__ import annotations

from highway_env.envs.racetrack_env import (
    ConnectedLaneRacetrackEnv,
    ConnectedLaneRacetrackEnvLarge,
    ConnectedLaneRacetrackEnvOval,
)

from fast_rllib.tasks.task import TaskInfo

_RACING_OBJECTIVE = (
    "The agent's objective is to follow the track at the imposed speed, staying close to the centre of "
    "its lane, while avoiding collisions with other vehicles and never leaving the road."
)

STOCK_TRACKS: tuple[TaskInfo, ...] = (
    TaskInfo(
        task_id="fast/racetrack-v0",
        kind="racing",
        env_class=ConnectedLaneRacetrackEnv,
        config={"other_vehicles": 1},
        description=(
            "The ego-vehicle is driving on a two-lane closed racetrack of about 350 m with a long "
            "straight, tight left and right bends of different radii and a few slower cars. "
            + _RACING_OBJECTIVE
        ),
    ),
    TaskInfo(
        task_id="fast/racetrack-large-v0",
        kind="racing",
        env_class=ConnectedLaneRacetrackEnvLarge,
        config={"other_vehicles": 1},
        description=(
            "The ego-vehicle is driving on a wide three-lane closed racetrack of about 550 m with long "
            "straights, sweeping bends in both directions and a few slower cars. " + _RACING_OBJECTIVE
        ),
    ),
    TaskInfo(
        task_id="fast/racetrack-oval-v0",
        kind="racing",
        env_class=ConnectedLaneRacetrackEnvOval,
        config={"other_vehicles": 1, "length": 100, "no_lanes": 3},
        description=(
            "The ego-vehicle is driving on a three-lane oval track with two 100 m straights joined by two "
            "wide half-circle bends, turning always the same way, with a few slower cars. "
            + _RACING_OBJECTIVE
        ),
    ),
)

RACING_TASKS: tuple[TaskInfo, ...] = STOCK_TRACKS
