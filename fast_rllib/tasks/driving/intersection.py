"""An unsignalled four-way crossroads: turn left across oncoming traffic."""

from __future__ import annotations

import numpy as np
from highway_env import utils
from highway_env.envs.common.abstract import AbstractEnv
from highway_env.envs.intersection_env import ConnectedLaneIntersectionEnv
from highway_env.vehicle.kinematics import Vehicle

from fast_rllib.tasks.driving.common import (
    DrivingTask,
    Edge,
    EgoPriorityRoad,
    RewardWeights,
    RouteTraffic,
    extend_straight,
    without_keys,
)
from fast_rllib.tasks.task import TaskInfo


class IntersectionTraffic(RouteTraffic):
    """Route cars with highway-env intersection's driving style (short gaps, brisk starts, gentle braking).

    The stock intersection assigns these to whatever class ``other_vehicles_type`` names at every reset,
    which with the default ``IDMVehicle`` silently changed the traffic of every racing task built later in
    the same process; a class of its own keeps them to this task.
    """

    DISTANCE_WANTED = 7.0
    COMFORT_ACC_MAX = 6.0
    COMFORT_ACC_MIN = -3.0


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
    simulation at reset (as long as a random policy's whole episode) is skipped.
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
        return without_keys(
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
            extend_straight(network, (f"il{corner}", f"o{corner}", 0), self.EXIT_LENGTH)
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


INTERSECTION_TASK = TaskInfo(
    task_id="fast/intersection-v0",
    kind="driving",
    env_class=IntersectionTask,
    description=(
        "The ego-vehicle is driving towards a four-way crossroads of two-lane roads without traffic "
        "lights, where cars arrive from every direction and cross, turn or go straight. The agent's "
        "objective is to turn left at the junction, across the oncoming lane, and drive away on the "
        "road to the west, without colliding with the crossing cars or leaving its lane."
    ),
)
