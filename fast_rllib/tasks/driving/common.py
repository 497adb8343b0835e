"""What the non-racing source tasks share: observation, vehicles, reward and episode rules.

One scene per module beside this one (highway, merge, roundabout, intersection), as highway-env keeps them.

They are highway-env's scenarios, subclassed so that they work with the shared spec (continuous steering
or [acceleration, steering], Kinematics observation) and behave like the racing tasks:

- **Reward** on the racetracks' scale, 0..1 per step (:class:`DrivingTask`): lane centring and progress
  at the task's cruise speed, plus one task-specific term, minus a small steering penalty; zero on a
  crash or off the road. The stock rewards assume discrete meta-actions (merge and roundabout evaluate
  ``action in [0, 2]``, which raises on a 2-D action) or an MDP vehicle, and are replaced.
- **Episodes** end on a crash, on leaving the road or (roundabout, intersection) on leaving the route,
  and are truncated after ``duration``. Stock merge never truncated (and ended about 11 s in, past the
  ramp) and stock intersection ended on arrival, so the roads here are long enough for ``duration`` at
  the cruise speed; reaching the very end of the road (only possible faster than the cruise speed, or
  with a longer ``duration``) also truncates.
- **The ego** is the plain kinematic vehicle that highway-env's ``ContinuousAction`` drives, so the stock
  spawners' route planning is silently skipped for it. With steering only it keeps the task's
  ``ego_speed`` for the whole episode; with acceleration its speed stays within [0, ``ego_max_speed``].
- **Speed**: the Kinematics observation is built without pandas (:mod:`fast_rllib.tasks.kinematics`),
  the intersection's right-of-way checks no longer deep-copy the road, and traffic is only as dense as
  the ego can meet in an episode.

The lane-offset features (``long_off``, ``lat_off``, ``ang_off``: metres and radians, not normalised)
are not equally meaningful here. ``long_off`` is the distance along the current road edge: on the
highway it is the distance driven (0 to about 900 m in 30 s), on the merge it reaches hundreds of metres,
far outside the racetracks' 0-140 m sections. It tells nothing useful there, and with it DQN lost what it
had learned on the highway and never learned the merge (``benchmarks/motorway_observation.py``), so those
two scenes report it as 0 (``UNOBSERVED_FEATURES``); the roundabout's and intersection's roads are short,
and keep it. ``lat_off`` is measured from
the nearest lane, so during a lane change (highway, merge) it jumps from about +2 m to -2 m as the nearest
lane switches; in the intersection the straight, left and right lanes overlap where they start, so
``lat_off`` and ``ang_off`` stay near zero whichever way the car turns and say nothing about the route.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from highway_env.envs.common.abstract import AbstractEnv
from highway_env.road.lane import AbstractLane, StraightLane
from highway_env.road.regulation import RegulatedRoad
from highway_env.road.road import LaneIndex, RoadNetwork
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.controller import ControlledVehicle
from highway_env.vehicle.kinematics import Vehicle

from fast_rllib.tasks.applied_action import applied_action
from fast_rllib.tasks.kinematics import FastKinematics, lane_offsets

Edge = tuple[str, str]

# Same lane-centring shape as highway-env's racetrack reward: 1 on the lane centre, 0.5 at 0.5 m.
LANE_CENTRING_COST = 4.0
# Racetrack: 0.3 x |action| on a reward later halved into [0, 1]; the same weight on our [0, 1] scale.
STEERING_PENALTY = 0.15
# The env clock is a float sum of 1 / policy_frequency steps: 150 steps of 0.2 s fall just short of 30 s.
_TIME_TOLERANCE = 1e-6


# Vehicles ---------------------------------------------------------------------------------------------


class DrivingEgo(Vehicle):
    """The kinematic vehicle that ``ContinuousAction`` drives, unable to reverse.

    ``MAX_SPEED`` is set per task on the instance. ``predict_trajectory_constant_speed`` integrates the
    same bicycle model as :meth:`Vehicle.step` in closed form per step: the stock version deep-copies the
    vehicle and with it the whole road, and right-of-way rules call it for every pair
    of vehicles twice a second.
    """

    MIN_SPEED = 0.0

    def predict_trajectory_constant_speed(self, times: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
        steering = 0.0 if self.prediction_type == "zero_steering" else float(self.action["steering"])
        slip = math.atan(0.5 * math.tan(steering))
        turn_rate = self.speed * math.sin(slip) / (self.LENGTH / 2)
        position, heading, now = self.position.copy(), self.heading, 0.0
        positions, headings = [], []
        for time in times:
            dt = time - now
            position = position + self.speed * dt * np.array([math.cos(heading + slip), math.sin(heading + slip)])
            heading += turn_rate * dt
            now = time
            positions.append(position)
            headings.append(heading)
        return positions, headings


class RouteTraffic(IDMVehicle):
    """IDM cars that never reverse, and whose route prediction also works where a road narrows.

    highway-env predicts a car along its planned route keeping its current lane number, checked against
    the road it is on rather than the road ahead: on a two-lane roundabout ring leading to a one-lane
    exit that indexes a lane which does not exist (IndexError). Here a missing lane falls back to lane 0,
    as highway-env intends. Only right-of-way rules (:class:`EgoPriorityRoad`) use these predictions.

    highway-env's IDM keeps braking at standstill when a vehicle stops just in front of it, so a car
    made to give way backed away and then spun round, its steering assuming forward motion.
    """

    MIN_SPEED = 0.0

    def predict_trajectory_constant_speed(self, times: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[float, ...]]:
        start = self.lane.local_coordinates(self.position)[0]
        route = self.route or [self.lane_index]
        return tuple(zip(*(self._along_route(route, start + self.speed * time) for time in times)))

    def _along_route(self, route: list[LaneIndex], longitudinal: float) -> tuple[np.ndarray, float]:
        index, lane = 0, self._route_lane(route[0])
        while index < len(route) - 1 and longitudinal > lane.length:
            longitudinal -= lane.length
            index += 1
            lane = self._route_lane(route[index])
        return lane.position(longitudinal, 0), lane.heading_at(longitudinal)

    def _route_lane(self, lane_index: LaneIndex) -> AbstractLane:
        _from, _to, _id = lane_index
        lanes = self.road.network.graph[_from][_to]
        if _id is None:
            _id = self.lane_index[2] if self.lane_index[2] < len(lanes) else 0
        return lanes[_id]



class EgoPriorityRoad(RegulatedRoad):
    """highway-env's right-of-way rules, with "first come, first served" between the ego and the others.

    Twice a second highway-env predicts every pair of vehicles 3 s ahead and, where they would meet, makes
    the one on the lower-priority lane stop, but only if it is an IDM car: the ego, which cannot brake with
    steering only, was simply run into. Here, in a conflict with the ego, the vehicle behind the other
    (highway-env's rule between equal priorities) gives way: a car that has not reached the conflict yet
    stops for the ego, one already in its path carries on and clears it. Other pairs keep the stock rule.

    A pair further apart than both can travel in the prediction horizon (plus a 20 m margin for the cars'
    size and lateral offset) cannot conflict and is skipped without predicting anything: most pairs.
    """

    MARGIN = 20.0

    @classmethod
    def for_env(cls, env: AbstractEnv, network: RoadNetwork) -> EgoPriorityRoad:
        return cls(
            network=network,
            np_random=env.np_random,
            record_history=env.config["show_trajectories"],
            neighbour_vehicles_connected_lanes=env.config["neighbour_vehicles_connected_lanes"],
        )

    @staticmethod
    def is_conflict_possible(v1: Vehicle, v2: Vehicle, horizon: int = 3, step: float = 0.25) -> bool:
        reach = (abs(v1.speed) + abs(v2.speed)) * horizon + EgoPriorityRoad.MARGIN
        if np.linalg.norm(v1.position - v2.position) > reach:
            return False
        return RegulatedRoad.is_conflict_possible(v1, v2, horizon, step)

    @staticmethod
    def respect_priorities(v1: Vehicle, v2: Vehicle) -> Vehicle:
        if isinstance(v1, ControlledVehicle) and isinstance(v2, ControlledVehicle):
            return RegulatedRoad.respect_priorities(v1, v2)
        return v1 if v1.front_distance_to(v2) > v2.front_distance_to(v1) else v2


# Shared task behaviour --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the three [0, 1] reward terms; they sum to 1 so that a perfect step earns 1."""

    centring: float
    progress: float
    task: float = 0.0

    def __post_init__(self) -> None:
        if not math.isclose(self.centring + self.progress + self.task, 1.0):
            raise ValueError(f"reward weights {self} must sum to 1")


class DrivingTask(FastKinematics, AbstractEnv):
    """What every driving task shares: ego, reward, termination, truncation and observation.

    Reward per step, in [0, 1]::

        on_road * (1 - crashed) * max(0, w_c * centring + w_p * progress + w_t * task - 0.15 * |steering|)

    - ``centring = 1 / (1 + 4 * lat^2)``, ``lat`` the distance (m) to the centre of the nearest lane, as
      on the racetracks;
    - ``progress = clip(speed * cos(heading error) / ego_speed, 0, 1)``: 1 at the cruise speed along the
      lane, less when slower or pointing away from the lane (with steering only the speed is constant);
    - ``task`` is the subclass's own term in [0, 1] (:meth:`_task_reward`);
    - ``steering`` is the steering action in [-1, 1] (a discrete action's applied steering).

    The episode terminates on a crash, on leaving the road (other than past its very end) and when the
    ego's road is not on its route (:meth:`_route`, if the task has one). It is truncated after
    ``duration`` or at the very end of the route's last road (:meth:`_final_edge`).
    """

    WEIGHTS: ClassVar[RewardWeights]
    FINAL_EDGE: ClassVar[Edge]
    ROUTE: ClassVar[frozenset[Edge] | None] = None

    @classmethod
    def default_config(cls) -> dict:
        config = super().default_config()
        config.update({"ego_speed": 25.0, "ego_max_speed": 30.0})
        return config

    def _reset(self) -> None:
        super()._reset()
        self._install_ego()

    def _install_ego(self) -> None:
        """Replace the stock spawner's ego by a :class:`DrivingEgo` at the cruise speed, in place."""
        if len(self.controlled_vehicles) != 1:
            raise ValueError(
                f"controlled_vehicles={len(self.controlled_vehicles)} is not allowed; allowed values: 1 "
                "(the shared spec drives a single ego-vehicle)"
            )
        stock = self.vehicle
        ego = DrivingEgo(self.road, stock.position, stock.heading, self.config["ego_speed"])
        ego.MAX_SPEED = self.config["ego_max_speed"]
        self.road.vehicles[self.road.vehicles.index(stock)] = ego
        self.controlled_vehicles = [ego]

    def _reward(self, action: np.ndarray) -> float:
        terms = self._rewards(action)
        weights = self.WEIGHTS
        shaped = (
            weights.centring * terms["centring"]
            + weights.progress * terms["progress"]
            + weights.task * terms["task"]
            - STEERING_PENALTY * terms["steering"]
        )
        return terms["on_road"] * (1.0 - terms["crashed"]) * max(0.0, shaped)

    def _rewards(self, action: np.ndarray) -> dict[str, float]:
        ego = self.vehicle
        _, lateral, heading_error = lane_offsets(ego)
        forward_speed = ego.speed * math.cos(heading_error)
        return {
            "centring": 1.0 / (1.0 + LANE_CENTRING_COST * lateral**2),
            "progress": float(np.clip(forward_speed / self.config["ego_speed"], 0.0, 1.0)),
            "task": self._task_reward(),
            "steering": abs(float(np.clip(np.asarray(applied_action(self, action)).reshape(-1)[-1], -1.0, 1.0))),
            "crashed": float(ego.crashed),
            "on_road": float(ego.on_road),
        }

    def _task_reward(self) -> float:
        return 0.0

    def _route(self) -> frozenset[Edge] | None:
        """The road edges the ego may drive on, or None when any road will do."""
        return self.ROUTE

    def _final_edge(self) -> Edge:
        return self.FINAL_EDGE

    def _is_terminated(self) -> bool:
        ego = self.vehicle
        route = self._route()
        off_road = not ego.on_road and not self._reached_end()
        off_route = route is not None and ego.lane_index[:2] not in route
        return ego.crashed or off_road or off_route

    def _is_truncated(self) -> bool:
        return self.time >= self.config["duration"] - _TIME_TOLERANCE or self._reached_end()

    def _reached_end(self) -> bool:
        ego = self.vehicle
        return ego.lane_index[:2] == self._final_edge() and ego.lane.after_end(ego.position)


def extend_straight(network: RoadNetwork, lane_index: LaneIndex, length: float) -> None:
    """Lengthen a straight lane from its start, keeping everything else about it."""
    lane = network.get_lane(lane_index)
    _from, _to, _id = lane_index
    network.graph[_from][_to][_id] = StraightLane(
        lane.start,
        lane.start + length * lane.direction,
        width=lane.width,
        line_types=lane.line_types,
        forbidden=lane.forbidden,
        speed_limit=lane.speed_limit,
        priority=lane.priority,
    )


def without_keys(config: dict, *keys: str) -> dict:
    """Drop stock config keys that our reward or termination make meaningless, so that the catalogue
    rejects an override of one of them instead of silently ignoring it."""
    for key in keys:
        del config[key]
    return config


STOCK_REWARD_KEYS = ("collision_reward", "high_speed_reward", "right_lane_reward", "lane_change_reward")
