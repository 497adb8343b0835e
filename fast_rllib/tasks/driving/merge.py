"""A motorway on-ramp: keep speed and lane while making room for merging cars."""

from __future__ import annotations

import numpy as np
from highway_env.envs.merge_env import ConnectedLaneMergeGenericEnv
from highway_env.road.road import LaneIndex
from highway_env.vehicle.controller import ControlledVehicle

from fast_rllib.tasks.driving.common import STOCK_REWARD_KEYS, DrivingTask, RewardWeights, without_keys
from fast_rllib.tasks.task import TaskInfo


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

    UNOBSERVED_FEATURES = ("long_off",)  # the distance driven along one long lane: see .common
    WEIGHTS = RewardWeights(centring=0.5, progress=0.3, task=0.2)
    FINAL_EDGE = ("c", "d")
    MERGING_GAP = 35.0

    @classmethod
    def default_config(cls) -> dict:
        config = super().default_config()
        config.update({"after_merge_length": 700, "merging_vehicles": 2, "ego_speed": 30.0, "ego_max_speed": 35.0})
        return without_keys(config, *STOCK_REWARD_KEYS, "reward_speed_range", "merging_speed_reward")

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


MERGE_TASK = TaskInfo(
    task_id="fast/merge-v0",
    kind="driving",
    env_class=MergeTask,
    description=(
        "The ego-vehicle is driving on the right lane of a straight two-lane motorway at high speed, "
        "approaching an on-ramp that joins from the right, where cars accelerate to merge into its "
        "lane. The agent's objective is to keep its speed and lane while making room for the merging "
        "cars, moving to the left lane if needed, without colliding with any vehicle."
    ),
)
