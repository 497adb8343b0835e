"""Racing tasks: highway-env's own tracks and the tracks drawn by our parametric builder.

Every racing task keeps highway-env's racetrack reward (lane centring, a small steering penalty, zero on
a crash or off the road: about 0..1 per step), so returns are comparable across tracks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from highway_env.envs.racetrack_env import (
    ConnectedLaneRacetrackEnv,
    ConnectedLaneRacetrackEnvLarge,
    ConnectedLaneRacetrackEnvOval,
)
from highway_env.road.road import LaneIndex, Road
from highway_env.vehicle.behavior import IDMVehicle

from fast_rllib.tasks.applied_action import AppliedActionReward
from fast_rllib.tasks.kinematics import FastKinematics
from fast_rllib.tasks.task import TaskInfo
from fast_rllib.tasks.track_builder import TrackGeometry, build_road_network, lane_indexes

RACING_OBJECTIVE = (
    "The agent's objective is to follow the track at the imposed speed, staying close to the centre of "
    "its lane, while avoiding collisions with other vehicles and never leaving the road."
)


# highway-env's own tracks, with the numpy Kinematics observation (same values, a fraction of the cost).
class StockRacetrackEnv(AppliedActionReward, FastKinematics, ConnectedLaneRacetrackEnv):
    """highway-env's two-lane racetrack."""


class StockRacetrackLargeEnv(AppliedActionReward, FastKinematics, ConnectedLaneRacetrackEnvLarge):
    """highway-env's large three-lane racetrack."""


class StockRacetrackOvalEnv(AppliedActionReward, FastKinematics, ConnectedLaneRacetrackEnvOval):
    """highway-env's three-lane oval."""


STOCK_TRACKS: tuple[TaskInfo, ...] = (
    TaskInfo(
        task_id="fast/racetrack-v0",
        kind="racing",
        env_class=StockRacetrackEnv,
        config={"other_vehicles": 1},
        description=(
            "The ego-vehicle is driving on a two-lane closed racetrack of about 350 m with a long "
            "straight, tight left and right bends of different radii and a few slower cars. "
            + RACING_OBJECTIVE
        ),
    ),
    TaskInfo(
        task_id="fast/racetrack-large-v0",
        kind="racing",
        env_class=StockRacetrackLargeEnv,
        config={"other_vehicles": 1},
        description=(
            "The ego-vehicle is driving on a wide three-lane closed racetrack of about 550 m with long "
            "straights, sweeping bends in both directions and a few slower cars. " + RACING_OBJECTIVE
        ),
    ),
    TaskInfo(
        task_id="fast/racetrack-oval-v0",
        kind="racing",
        env_class=StockRacetrackOvalEnv,
        config={"other_vehicles": 1, "length": 100, "no_lanes": 3},
        description=(
            "The ego-vehicle is driving on a three-lane oval track with two 100 m straights joined by two "
            "wide half-circle bends, turning always the same way, with a few slower cars. "
            + RACING_OBJECTIVE
        ),
    ),
)


# Generated tracks ---------------------------------------------------------------------------------------
#
# Traffic is the expensive part of a step (every IDM car, and the Kinematics observation once cars are in
# view; benchmarks/env_speed.py, benchmarks/results/env_speed.json), so the busiest tracks keep at most
# four cars and get their density from a short lap and slow cars instead.

TRACK_KEYS = ("corners", "radii", "lanes", "lane_width")
# Other cars start at least this far from every vehicle already placed, as on highway-env's racetracks.
MIN_START_GAP = 20.0
# Random positions tried per car before leaving it out (only reachable on a track packed with cars).
PLACEMENT_ATTEMPTS = 50


def _track(corners: Sequence[tuple[float, float]], radii: Sequence[float], lanes: int = 2) -> dict[str, Any]:
    """A ``track`` config value: plain lists, so that configs stay JSON- and pickle-friendly."""
    return {"corners": [list(corner) for corner in corners], "radii": list(radii), "lanes": lanes, "lane_width": 5.0}


# The paper's target task: two 80 m straights joined by half-circles of 22.5 m (lanes at 20 m and 25 m),
# turning left like the Indianapolis speedway.
INDIANA_TRACK = _track([(-22.5, 0), (102.5, 0), (102.5, -45), (-22.5, -45)], [22.5] * 4)


def track_geometry(config: Mapping[str, Any]) -> TrackGeometry:
    """The geometry an env config describes: its ``track`` shape with the env's ``speed_limit``."""
    track = config["track"]
    unknown = set(track) - set(TRACK_KEYS)
    if unknown:
        raise ValueError(f"track has unknown keys {sorted(unknown)}; allowed keys: {', '.join(TRACK_KEYS)}")
    return TrackGeometry(**track, speed_limit=config["speed_limit"])


class PolygonRacetrackEnv(StockRacetrackEnv):
    """A racetrack drawn by :mod:`fast_rllib.tasks.track_builder` from the ``track`` config value.

    Rewards, terminations and actions are highway-env's racetrack ones; only the road and the traffic
    differ. ``track`` holds ``corners``, ``radii``, ``lanes`` and ``lane_width``; the lanes' speed is the
    usual ``speed_limit``. Traffic is ``other_vehicles`` IDM cars (exactly that many, or a [fewest, most]
    range drawn from at every reset, where the stock tracks draw 1 to N) cruising at speeds drawn from ``other_vehicles_speed`` = [low, high] m/s, placed
    uniformly along the lap on random lanes and never within 20 m of another vehicle. There is a single
    ego-vehicle: ``controlled_vehicles`` is not used.
    """

    @classmethod
    def default_config(cls) -> dict:
        config = super().default_config()
        config.update({"track": INDIANA_TRACK, "other_vehicles": 2, "other_vehicles_speed": [6.0, 9.0]})
        return config

    def _make_road(self) -> None:
        self.road = Road(
            network=build_road_network(track_geometry(self.config)),
            np_random=self.np_random,
            record_history=self.config["show_trajectories"],
            neighbour_vehicles_connected_lanes=self.config["neighbour_vehicles_connected_lanes"],
        )

    def _make_vehicles(self) -> None:
        """The ego on lane 0 or 1 of the first straight, as on the stock tracks, then the traffic."""
        rng = self.np_random
        lane_index = ("a", "b", int(rng.integers(2)))
        lane = self.road.network.get_lane(lane_index)
        ego = self.action_type.vehicle_class.make_on_lane(
            self.road, lane_index, longitudinal=rng.uniform(0.2, 0.6) * lane.length, speed=None
        )
        self.controlled_vehicles = [ego]
        self.road.vehicles.append(ego)
        self._add_traffic(rng)

    def _add_traffic(self, rng: np.random.Generator) -> None:
        (fewest, most), (low, high) = _traffic(self.config)
        count = int(rng.integers(fewest, most + 1))
        indexes, lengths = self._lanes_and_lengths()
        for _ in range(count):
            for _ in range(PLACEMENT_ATTEMPTS):
                # A uniformly random point of the road: lanes are drawn by length, unlike highway-env's
                # random_lane_index, which would crowd the cars onto the short arcs.
                pick = rng.choice(len(indexes), p=lengths / lengths.sum())
                longitudinal = rng.uniform(0, lengths[pick])
                position = self.road.network.get_lane(indexes[pick]).position(longitudinal, 0)
                if all(np.linalg.norm(position - other.position) >= MIN_START_GAP for other in self.road.vehicles):
                    car = IDMVehicle.make_on_lane(self.road, indexes[pick], longitudinal, speed=rng.uniform(low, high))
                    self.road.vehicles.append(car)
                    break

    def _lanes_and_lengths(self) -> tuple[list[LaneIndex], np.ndarray]:
        indexes = lane_indexes(self.road.network)
        return indexes, np.array([self.road.network.get_lane(index).length for index in indexes])


def _traffic(config: Mapping[str, Any]) -> tuple[tuple[int, int], tuple[float, float]]:
    """((fewest, most) cars, (lowest, highest) speed): ``other_vehicles`` is a count or a [fewest, most]
    range drawn from at every reset."""
    count, speeds = config["other_vehicles"], config["other_vehicles_speed"]
    counts = list(count) if isinstance(count, (list, tuple)) else [count, count]
    if len(counts) != 2 or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts) or counts[0] > counts[1]:
        raise ValueError(
            f"other_vehicles={count!r} is not allowed; allowed values: an integer >= 0 or [fewest, most] with "
            "0 <= fewest <= most"
        )
    if len(speeds) != 2 or not 0 <= speeds[0] <= speeds[1]:
        raise ValueError(
            f"other_vehicles_speed={speeds!r} is not allowed; allowed values: [low, high] with 0 <= low <= high m/s"
        )
    return (counts[0], counts[1]), (float(speeds[0]), float(speeds[1]))


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



def _generated(
    task_id: str,
    track: dict[str, Any],
    traffic: tuple[int, float, float],
    description: str,
    speed_limit: float = 10.0,
) -> TaskInfo:
    """A catalogue entry for a builder track; ``traffic`` is (cars, lowest speed, highest speed)."""
    cars, low, high = traffic
    return RacingTrack(
        corners=track["corners"], radii=track["radii"], lanes=track["lanes"], lane_width=track["lane_width"],
        speed_limit=speed_limit, traffic=cars, traffic_speed=(low, high),
        description=f"{description} {RACING_OBJECTIVE}",
    ).task(task_id)


GENERATED_TRACKS: tuple[TaskInfo, ...] = (
    _generated(
        "fast/indiana-v0",
        INDIANA_TRACK,
        traffic=(2, 6.0, 9.0),
        description=(
            "The ego-vehicle is driving on a two-lane oval speedway of about 300 m: two 80 m straights "
            "joined by two tight half-circle bends of about 22 m radius, turning always left, with a couple "
            "of slower cars."
        ),
    ),
    _generated(
        "fast/complex-v0",
        # Eleven sections: five straights and six bends, two of which meet to make the hairpin.
        _track([(0, 0), (120, 0), (120, 30), (60, 30), (60, 90), (-20, 90)], [30, 15, 15, 20, 25, 20]),
        traffic=(3, 6.0, 9.0),
        description=(
            "The ego-vehicle is driving on a two-lane closed racetrack of about 390 m made of eleven "
            "sections, five straights and six bends, mostly to the right, including a tight 180-degree "
            "hairpin and a single left bend, with a few slower cars."
        ),
    ),
    _generated(
        "fast/kidney-v0",
        _track(
            [(0, 0), (140, 0), (200, 60), (140, 130), (90, 95), (30, 130), (-40, 60)],
            [40, 40, 40, 35, 30, 40, 40],
            lanes=3,
        ),
        traffic=(2, 6.0, 9.0),
        description=(
            "The ego-vehicle is driving on a wide three-lane kidney-shaped circuit of about 560 m with "
            "sweeping right-hand bends of large radius and one gentle left-hand bend where one side curves "
            "inwards, with little traffic."
        ),
    ),
    _generated(
        "fast/triangle-v0",
        _track([(0, 0), (130, 0), (65, -112.6)], [15] * 3),
        traffic=(0, 6.0, 9.0),
        description=(
            "The ego-vehicle is driving alone on an empty two-lane triangular circuit of about 330 m: three "
            "long straights joined by three very tight 120-degree left-hand bends."
        ),
    ),
    _generated(
        "fast/chicane-v0",
        _track(
            [(60, -20), (130, -20), (130, 60), (90, 60), (70, 80), (0, 80), (0, 0), (40, 0)],
            [15, 20, 20, 15, 15, 20, 20, 15],
        ),
        traffic=(4, 4.0, 7.0),
        description=(
            "The ego-vehicle is driving in dense, slow traffic on a short two-lane rectangular circuit of "
            "about 400 m whose four right-hand corners are linked by straights with quick left-right "
            "chicanes."
        ),
    ),
    _generated(
        "fast/wide-loop-v0",
        _track(
            [(0, 0), (102, 0), (144.5, -59.5), (68, -119), (-25.5, -76.5)], [40, 42, 40, 42, 40], lanes=4
        ),
        traffic=(4, 6.0, 9.0),
        speed_limit=12.0,
        description=(
            "The ego-vehicle is driving fast, at 12 m/s, on a very wide four-lane loop of about 410 m, an "
            "irregular pentagon of five long sweeping left-hand bends and short straights, among several "
            "much slower cars."
        ),
    ),
    _generated(
        "fast/switchback-v0",
        _track(
            [(-30, 0), (110, 0), (110, 40), (30, 40), (30, 80), (110, 80), (110, 120), (-30, 120)],
            [25, 20, 20, 20, 20, 20, 20, 25],
            lanes=3,
        ),
        traffic=(3, 6.0, 9.0),
        description=(
            "The ego-vehicle is driving on a three-lane switchback circuit of about 610 m whose straights "
            "fold back and forth through three hairpins, two to the right and one to the left, with a few "
            "slower cars."
        ),
    ),
)

RACING_TASKS: tuple[TaskInfo, ...] = STOCK_TRACKS + GENERATED_TRACKS
