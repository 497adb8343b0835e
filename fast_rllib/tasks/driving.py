"""Non-racing source tasks: highway overtaking, a motorway merge, a roundabout and an intersection.

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
- **Speed**: the Kinematics observation is built without pandas (same values, several times faster),
  the intersection's right-of-way checks no longer deep-copy the road, and traffic is only as dense as
  the ego can meet in an episode.

The lane-offset features (``long_off``, ``lat_off``, ``ang_off``: metres and radians, not normalised)
are not equally meaningful here. ``long_off`` is the distance along the current road edge: on the
highway it is the distance driven (0 to about 900 m in 30 s), on the merge it reaches hundreds of metres,
far outside the racetracks' 0-140 m sections, and it tells nothing useful. ``lat_off`` is measured from
the nearest lane, so during a lane change (highway, merge) it jumps from about +2 m to -2 m as the nearest
lane switches; in the intersection the straight, left and right lanes overlap where they start, so
``lat_off`` and ``ang_off`` stay near zero whichever way the car turns and say nothing about the route.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from highway_env import utils
from highway_env.envs.common.abstract import AbstractEnv
from highway_env.envs.common.observation import KinematicObservation
from highway_env.envs.highway_env import HighwayEnv
from highway_env.envs.intersection_env import ConnectedLaneIntersectionEnv
from highway_env.envs.merge_env import ConnectedLaneMergeGenericEnv
from highway_env.envs.roundabout_env import ConnectedLaneRoundaboutEnv
from highway_env.road.lane import AbstractLane, StraightLane
from highway_env.road.regulation import RegulatedRoad
from highway_env.road.road import LaneIndex, RoadNetwork
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.controller import ControlledVehicle
from highway_env.vehicle.kinematics import Vehicle
from highway_env.vehicle.objects import RoadObject

from fast_rllib.tasks.task import TaskInfo

Edge = tuple[str, str]

# Same lane-centring shape as highway-env's racetrack reward: 1 on the lane centre, 0.5 at 0.5 m.
LANE_CENTRING_COST = 4.0
# Racetrack: 0.3 x |action| on a reward later halved into [0, 1]; the same weight on our [0, 1] scale.
STEERING_PENALTY = 0.15
# The env clock is a float sum of 1 / policy_frequency steps: 150 steps of 0.2 s fall just short of 30 s.
_TIME_TOLERANCE = 1e-6


# Observation ------------------------------------------------------------------------------------------


class FastKinematicObservation(KinematicObservation):
    """highway-env's Kinematics observation with the same values, built with numpy instead of pandas.

    The stock version spends about 5 ms a step building and clipping DataFrames, more than half of a
    driving task's step. Rows come from the same ``to_dict`` and are normalised by the same
    ``normalize_obs``, so a policy sees exactly what it would see on the racing tasks. One deliberate
    difference: a static obstacle (the merge's end-of-ramp block) has no heading or lane offsets in its
    ``to_dict``, which pandas turned into NaN; here they are its heading and its offsets from its lane.
    """

    def observe(self) -> np.ndarray:
        if not self.env.road:
            return np.zeros(self.space().shape, dtype=np.float32)
        ego = self.observer_vehicle
        others = self.env.road.close_objects_to(
            ego,
            self.env.PERCEPTION_DISTANCE,
            count=self.vehicles_count - 1,
            see_behind=self.see_behind,
            sort=self.order == "sorted",
            vehicles_only=not self.include_obstacles,
        )
        origin = None if self.absolute else ego
        rows = [_features(ego, None, self.observe_intentions)]
        rows += [_features(other, origin, self.observe_intentions) for other in others[-self.vehicles_count + 1 :]]
        columns = {name: np.array([row[name] for row in rows], dtype=np.float64) for name in self.features}
        if self.normalize:
            columns = self.normalize_obs(columns)
        observation = np.zeros(self.space().shape)
        observation[: len(rows)] = np.stack([columns[name] for name in self.features], axis=1)
        if self.order == "shuffled":
            self.env.np_random.shuffle(observation[1:])
        return observation.astype(self.space().dtype)


def _features(thing: RoadObject, origin: Vehicle | None, observe_intentions: bool) -> dict[str, float]:
    features = thing.to_dict(origin, observe_intentions=observe_intentions)
    if "heading" not in features:  # a static obstacle
        features["heading"] = thing.heading
        features.update(zip(("long_off", "lat_off", "ang_off"), _lane_offsets(thing)))
    return features


def _lane_offsets(thing: RoadObject) -> tuple[float, float, float]:
    """(longitudinal, lateral, angular) offsets from the object's lane, as in ``Vehicle.lane_offset``."""
    longitudinal, lateral = thing.lane.local_coordinates(thing.position)
    return longitudinal, lateral, thing.lane.local_angle(thing.heading, longitudinal)


# Vehicles ---------------------------------------------------------------------------------------------


class DrivingEgo(Vehicle):
    """The kinematic vehicle that ``ContinuousAction`` drives, unable to reverse.

    ``MAX_SPEED`` is set per task on the instance. ``predict_trajectory_constant_speed`` integrates the
    same bicycle model as :meth:`Vehicle.step` in closed form per step: the stock version deep-copies the
    vehicle and with it the whole road (about 7 ms a call), and right-of-way rules call it for every pair
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


class IntersectionTraffic(RouteTraffic):
    """Route cars with highway-env intersection's driving style (short gaps, brisk starts, gentle braking).

    The stock intersection assigns these to whatever class ``other_vehicles_type`` names at every reset,
    which with the default ``IDMVehicle`` silently changed the traffic of every racing task built later in
    the same process; a class of its own keeps them to this task.
    """

    DISTANCE_WANTED = 7.0
    COMFORT_ACC_MAX = 6.0
    COMFORT_ACC_MIN = -3.0


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


class DrivingTask(AbstractEnv):
    """What every driving task shares: ego, reward, termination, truncation and observation.

    Reward per step, in [0, 1]::

        on_road * (1 - crashed) * max(0, w_c * centring + w_p * progress + w_t * task - 0.15 * |steering|)

    - ``centring = 1 / (1 + 4 * lat^2)``, ``lat`` the distance (m) to the centre of the nearest lane, as
      on the racetracks;
    - ``progress = clip(speed * cos(heading error) / ego_speed, 0, 1)``: 1 at the cruise speed along the
      lane, less when slower or pointing away from the lane (with steering only the speed is constant);
    - ``task`` is the subclass's own term in [0, 1] (:meth:`_task_reward`);
    - ``steering`` is the steering action in [-1, 1].

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

    def define_spaces(self) -> None:
        super().define_spaces()
        observation = self.config["observation"]
        if observation["type"] == "Kinematics":
            self.observation_type = FastKinematicObservation(self, **observation)
            self.observation_space = self.observation_type.space()

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
        _, lateral, heading_error = _lane_offsets(ego)
        forward_speed = ego.speed * math.cos(heading_error)
        return {
            "centring": 1.0 / (1.0 + LANE_CENTRING_COST * lateral**2),
            "progress": float(np.clip(forward_speed / self.config["ego_speed"], 0.0, 1.0)),
            "task": self._task_reward(),
            "steering": abs(float(np.clip(np.asarray(action).reshape(-1)[-1], -1.0, 1.0))),
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


def _extend_straight(network: RoadNetwork, lane_index: LaneIndex, length: float) -> None:
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


def _without(config: dict, *keys: str) -> dict:
    """Drop stock config keys that our reward or termination make meaningless, so that the catalogue
    rejects an override of one of them instead of silently ignoring it."""
    for key in keys:
        del config[key]
    return config


_STOCK_REWARD_KEYS = ("collision_reward", "high_speed_reward", "right_lane_reward", "lane_change_reward")


# Highway ----------------------------------------------------------------------------------------------


class HighwayTask(DrivingTask, HighwayEnv):
    """Overtake slower traffic on a straight three-lane highway.

    Reward (see :class:`DrivingTask`), in [0, 1] per step: 0.5 centring + 0.35 progress + 0.15 keep-right
    (1 on the rightmost lane, 0 on the leftmost, linear between, as on highway-env's highway) - 0.15
    |steering|; 0 on a crash, which ends the episode, as does leaving the road. A good driver earns about
    0.85 (left lane) to 1 (right lane) per step; a lane change costs a little centring and steering.

    The ego cruises at 28 m/s among ``vehicles_count`` IDM cars at 21-24 m/s (highway-env's default speeds
    for its 30 m/s road) placed one after another ahead of it over about 300 m: with steering only it must
    change lanes to overtake, or run into them. 12 cars are about as many as it can reach in 30 s; the
    stock 50 cost about 50 ms a step in IDM neighbour searches and collision checks.
    """

    WEIGHTS = RewardWeights(centring=0.5, progress=0.35, task=0.15)
    FINAL_EDGE = ("0", "1")

    @classmethod
    def default_config(cls) -> dict:
        config = super().default_config()
        config.update({"lanes_count": 3, "vehicles_count": 12, "ego_speed": 28.0, "ego_max_speed": 32.0})
        return _without(config, *_STOCK_REWARD_KEYS, "reward_speed_range", "normalize_reward", "offroad_terminal")

    def _task_reward(self) -> float:
        return self.vehicle.lane_index[2] / max(self.config["lanes_count"] - 1, 1)


# Merge ------------------------------------------------------------------------------------------------


class MergeTask(DrivingTask, ConnectedLaneMergeGenericEnv):
    """Drive past a motorway on-ramp and make room for the cars merging from it.

    Reward (see :class:`DrivingTask`), in [0, 1] per step: 0.5 centring + 0.3 progress + 0.2 courtesy -
    0.15 |steering|; 0 on a crash, which ends the episode, as does leaving the road. Courtesy is highway-env
    merge's altruistic term made positive: 1 minus the mean speed deficit (target - speed) / target,
    clipped to [0, 1], of the cars still on the ramp, and 1 when nobody is merging. A good driver earns
    about 0.85-1 per step.

    Two-lane motorway with the ego on the right lane at 30 m/s as in highway-env's merge, ``vehicles_count``
    cars at 28-32 m/s on the motorway and ``merging_vehicles`` cars on the ramp at 20 m/s accelerating to
    30 m/s, the first timed to reach the merge section with the ego, the others 35 m behind each other.
    With steering only the ego makes room by moving to the left lane. The road after the merge is 700 m
    long so that 30 s at 30 m/s stay on it (stock: 150 m, and the episode ended past the ramp).
    """

    WEIGHTS = RewardWeights(centring=0.5, progress=0.3, task=0.2)
    FINAL_EDGE = ("c", "d")
    MERGING_GAP = 35.0

    @classmethod
    def default_config(cls) -> dict:
        config = super().default_config()
        config.update({"after_merge_length": 700, "merging_vehicles": 2, "ego_speed": 30.0, "ego_max_speed": 35.0})
        return _without(config, *_STOCK_REWARD_KEYS, "reward_speed_range", "merging_speed_reward")

    def _make_vehicles(self) -> None:
        """The stock scene (its single ramp car last), then more ramp cars behind that one."""
        count = self.config["merging_vehicles"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"merging_vehicles={count!r} is not allowed; allowed values: an integer >= 1")
        super()._make_vehicles()
        first = self.road.vehicles[-1]
        start, _ = self.road.network.get_lane(("j", "k", 0)).local_coordinates(first.position)
        for index in range(1, count):
            vehicle = type(first).make_on_lane(
                self.road, ("j", "k", 0), longitudinal=start - index * self.MERGING_GAP, speed=first.speed
            )
            vehicle.target_speed = first.target_speed
            self.road.vehicles.append(vehicle)

    def _task_reward(self) -> float:
        deficits = [
            np.clip((vehicle.target_speed - vehicle.speed) / vehicle.target_speed, 0.0, 1.0)
            for vehicle in self.road.vehicles
            if isinstance(vehicle, ControlledVehicle) and self._on_ramp(vehicle.lane_index)
        ]
        return 1.0 - float(np.mean(deficits)) if deficits else 1.0

    def _on_ramp(self, lane_index: LaneIndex) -> bool:
        return lane_index[:2] in {("j", "k"), ("k", "b")} or lane_index == ("b", "c", self.config["lanes_count"])


# Roundabout -------------------------------------------------------------------------------------------


class RoundaboutTask(DrivingTask, ConnectedLaneRoundaboutEnv):
    """Enter a two-lane roundabout from the south, drive half way round and leave by the north exit.

    Reward (see :class:`DrivingTask`), in [0, 1] per step: 0.55 centring + 0.45 progress - 0.15
    |steering|; no task term, the route is the task. 0 on a crash, which ends the episode, as do leaving
    the road and leaving the route (another exit, an entry road, or a second lap). A good driver earns
    about 0.9-1 per step. The exit is only reachable from the outer lane of the ring.

    The ego cruises at 8 m/s, highway-env roundabout's speed. The four stock IDM cars (three on the ring
    just before the ego's entry, one arriving from the east, random destinations) drive at 80-100% of
    ``speed_limit`` (10 m/s; stock: about 16 m/s on 20 m/s lanes) and give way to the ego when it gets to
    a conflict first (:class:`EgoPriorityRoad`; stock cars only braked for what was already in their lane,
    so a steering-only ego, which cannot wait for a gap, was hit on entering in about 65% of episodes).
    The north exit road is 200 m long so that 30 s at 8 m/s stay on it.
    """

    WEIGHTS = RewardWeights(centring=0.55, progress=0.45)
    # From the south entry along the ring to the north exit. The ring sections just before the entry and
    # just after the exit are included because the entry and exit lanes run alongside them; one section
    # further (going round again) is off the route.
    ROUTE = frozenset(
        {("ser", "ses"), ("ses", "se"), ("sx", "se"), ("se", "ex"), ("ex", "ee"), ("ee", "nx"), ("nx", "ne"),
         ("nx", "nxs"), ("nxs", "nxr")}
    )
    FINAL_EDGE = ("nxs", "nxr")
    EXIT_LENGTH = 200.0

    @classmethod
    def default_config(cls) -> dict:
        config = super().default_config()
        config.update(
            {
                "other_vehicles_type": utils.get_class_path(RouteTraffic),
                "speed_limit": 10.0,
                "ego_speed": 8.0,
                "ego_max_speed": 12.0,
            }
        )
        return _without(config, *_STOCK_REWARD_KEYS, "normalize_reward")

    def _make_road(self) -> None:
        super()._make_road()
        network = self.road.network
        _extend_straight(network, (*self.FINAL_EDGE, 0), self.EXIT_LENGTH)
        for lanes in (lanes for ends in network.graph.values() for lanes in ends.values()):
            for lane in lanes:
                lane.speed_limit = self.config["speed_limit"]
        self.road = EgoPriorityRoad.for_env(self, network)

    def _make_vehicles(self) -> None:
        super()._make_vehicles()
        for vehicle in self.road.vehicles:
            if vehicle is not self.vehicle:
                vehicle.speed = vehicle.target_speed = self.np_random.uniform(0.8, 1.0) * self.config["speed_limit"]


# Intersection -----------------------------------------------------------------------------------------


class IntersectionTask(DrivingTask, ConnectedLaneIntersectionEnv):
    """Turn left at a four-way crossroads, across the oncoming lane, among crossing traffic.

    Reward (see :class:`DrivingTask`), in [0, 1] per step: 0.55 centring + 0.45 progress - 0.15
    |steering|; no task term, the route is the task. 0 on a crash, which ends the episode, as do leaving
    the road and leaving the route (going straight on, turning right, or driving on the wrong side of a
    road; ``destination`` o2 or o3 makes straight on or right the route instead). A good driver earns
    about 0.9-1 per step.

    The ego approaches from the south at 10 m/s, the roads' speed limit, starting 25-45 m before the
    junction. IDM cars at about 8 m/s (``initial_vehicle_count`` tries at reset spread along the
    approaches, then one try with probability ``spawn_probability`` each step) come from the three other
    roads and never take the ego's exit, so none is ever ahead of it in its lane, which a steering-only
    ego could not avoid. They give way to the ego when it gets to a conflict first
    (:class:`EgoPriorityRoad`). Differences from the stock scene, each because a steering-only ego cannot
    wait: no "challenger" car timed to cross the ego's path, and the ego no longer has to yield. Exit roads
    are 260 m long (stock: 100 m, and the episode ended 25 m into the exit) so that 30 s at 10 m/s stay on
    them; other cars are removed 80 m into their exit, where the stock road ended. The stock 3 s of traffic
    simulation at reset (60 ms, as long as a random policy's whole episode) is skipped.
    """

    WEIGHTS = RewardWeights(centring=0.55, progress=0.45)
    # highway-env's node names: road 0 is south, where the ego enters; o1 is west, o2 north, o3 east.
    DESTINATIONS = ("o1", "o2", "o3")
    EXIT_LENGTH = 260.0
    TRAFFIC_EXIT_DISTANCE = 80.0
    TRAFFIC_SPEED = 8.0
    # No new car within this distance of another vehicle (m), as in highway-env.
    SPAWN_CLEARANCE = 15.0

    @classmethod
    def default_config(cls) -> dict:
        config = super().default_config()
        config.update(
            {
                "other_vehicles_type": utils.get_class_path(IntersectionTraffic),
                "destination": "o1",
                "ego_speed": 10.0,
                "ego_max_speed": 12.0,
            }
        )
        return _without(
            config, "collision_reward", "high_speed_reward", "arrived_reward", "reward_speed_range",
            "normalize_reward", "offroad_terminal",
        )

    def _route(self) -> frozenset[Edge]:
        """The approach, the exit and every lane across the junction: those overlap where they start, so
        the nearest one says nothing about where the ego is going until it reaches an exit."""
        corner = self._destination_corner()
        junction = {("ir0", f"il{other}") for other in (1, 2, 3)}
        return frozenset({("o0", "ir0"), (f"il{corner}", f"o{corner}")} | junction)

    def _final_edge(self) -> Edge:
        corner = self._destination_corner()
        return f"il{corner}", f"o{corner}"

    def _destination_corner(self) -> int:
        destination = self.config["destination"]
        if destination not in self.DESTINATIONS:
            raise ValueError(
                f"destination={destination!r} is not allowed; allowed values: {', '.join(self.DESTINATIONS)} "
                "(west: turn left, north: straight on, east: turn right)"
            )
        return int(destination[1:])

    def _make_road(self) -> None:
        super()._make_road()
        network = self.road.network
        for corner in range(4):
            _extend_straight(network, (f"il{corner}", f"o{corner}", 0), self.EXIT_LENGTH)
        self.road = EgoPriorityRoad.for_env(self, network)

    def _make_vehicles(self, n_vehicles: int = 10) -> None:
        for longitudinal in np.linspace(0, 80, n_vehicles):
            self._spawn_vehicle(longitudinal)
        lane = self.road.network.get_lane(("o0", "ir0", 0))
        longitudinal = self.np_random.uniform(55, 75)
        ego = self.action_type.vehicle_class(
            self.road, lane.position(longitudinal, 0), heading=lane.heading, speed=lane.speed_limit
        )
        self.road.vehicles.append(ego)
        self.controlled_vehicles = [ego]

    def _spawn_vehicle(self, longitudinal: float = 0.0, spawn_probability: float = 0.6) -> None:
        """Maybe add a car on road 1, 2 or 3, bound for any exit but its own and the ego's."""
        rng = self.np_random
        if rng.uniform() > spawn_probability:
            return
        entry = int(rng.choice([1, 2, 3]))
        exit_ = int(rng.choice([corner for corner in range(4) if corner not in (entry, self._destination_corner())]))
        lane = self.road.network.get_lane((f"o{entry}", f"ir{entry}", 0))
        position = lane.position(longitudinal + 5.0 + rng.normal(), 0)
        if any(np.linalg.norm(other.position - position) < self.SPAWN_CLEARANCE for other in self.road.vehicles):
            return
        vehicle_type = utils.class_from_path(self.config["other_vehicles_type"])
        vehicle = vehicle_type(self.road, position, lane.heading, self.TRAFFIC_SPEED + rng.normal())
        vehicle.plan_route_to(f"o{exit_}")
        vehicle.randomize_behavior()
        self.road.vehicles.append(vehicle)

    def _clear_vehicles(self) -> None:
        self.road.vehicles = [
            vehicle
            for vehicle in self.road.vehicles
            if vehicle in self.controlled_vehicles or not (self._leaving(vehicle) or vehicle.route is None)
        ]

    def _leaving(self, vehicle: Vehicle) -> bool:
        on_exit = vehicle.lane_index[0].startswith("il")
        return on_exit and vehicle.lane.local_coordinates(vehicle.position)[0] > self.TRAFFIC_EXIT_DISTANCE

    def _info(self, obs: np.ndarray, action: np.ndarray | None = None) -> dict:
        """Skip the stock per-agent rewards, which are highway-env's, not this task's."""
        return AbstractEnv._info(self, obs, action)


# Catalogue --------------------------------------------------------------------------------------------

DRIVING_TASKS: tuple[TaskInfo, ...] = (
    TaskInfo(
        task_id="fast/highway-v0",
        kind="driving",
        env_class=HighwayTask,
        description=(
            "The ego-vehicle is driving fast on a long straight three-lane highway with dashed lane "
            "markings, catching up with slower cars spread over all three lanes ahead of it. The agent's "
            "objective is to overtake them by changing lanes, keeping to the right-hand lane when it is "
            "free and to the centre of its lane, without colliding with any of them."
        ),
    ),
    TaskInfo(
        task_id="fast/merge-v0",
        kind="driving",
        env_class=MergeTask,
        description=(
            "The ego-vehicle is driving on the right lane of a straight two-lane motorway at high speed, "
            "approaching an on-ramp that joins from the right, where cars accelerate to merge into its "
            "lane. The agent's objective is to keep its speed and lane while making room for the merging "
            "cars, moving to the left lane if needed, without colliding with any vehicle."
        ),
    ),
    TaskInfo(
        task_id="fast/roundabout-v0",
        kind="driving",
        env_class=RoundaboutTask,
        description=(
            "The ego-vehicle is driving slowly towards a two-lane roundabout with four entries and four "
            "exits, entering it from the south through a curved entry lane while other cars circulate "
            "counter-clockwise around the central island. The agent's objective is to enter the "
            "roundabout, follow the ring half way round on the outer lane and leave by the north exit, "
            "staying in lane and avoiding collisions."
        ),
    ),
    TaskInfo(
        task_id="fast/intersection-v0",
        kind="driving",
        env_class=IntersectionTask,
        description=(
            "The ego-vehicle is driving towards a four-way crossroads of two-lane roads without traffic "
            "lights, where cars arrive from every direction and cross, turn or go straight. The agent's "
            "objective is to turn left at the junction, across the oncoming lane, and drive away on the "
            "road to the west, without colliding with the crossing cars or leaving its lane."
        ),
    ),
)
