"""A two-lane roundabout: enter from the south, leave by the north exit."""

from __future__ import annotations

from highway_env import utils
from highway_env.envs.roundabout_env import ConnectedLaneRoundaboutEnv

from fast_rllib.tasks.driving.common import (
    STOCK_REWARD_KEYS,
    DrivingTask,
    EgoPriorityRoad,
    RewardWeights,
    RouteTraffic,
    extend_straight,
    without_keys,
)
from fast_rllib.tasks.task import TaskInfo


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
    so a steering-only ego, which cannot wait for a gap, was hit on entering in most episodes).
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
        return without_keys(config, *STOCK_REWARD_KEYS, "normalize_reward")

    def _make_road(self) -> None:
        super()._make_road()
        network = self.road.network
        extend_straight(network, (*self.FINAL_EDGE, 0), self.EXIT_LENGTH)
        for lanes in (lanes for ends in network.graph.values() for lanes in ends.values()):
            for lane in lanes:
                lane.speed_limit = self.config["speed_limit"]
        self.road = EgoPriorityRoad.for_env(self, network)

    def _make_vehicles(self) -> None:
        super()._make_vehicles()
        for vehicle in self.road.vehicles:
            if vehicle is not self.vehicle:
                vehicle.speed = vehicle.target_speed = self.np_random.uniform(0.8, 1.0) * self.config["speed_limit"]


ROUNDABOUT_TASK = TaskInfo(
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
)
