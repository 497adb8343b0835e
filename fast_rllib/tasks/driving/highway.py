"""Highway overtaking: change lanes past slower traffic on a straight three-lane highway."""

from __future__ import annotations

from highway_env.envs.highway_env import HighwayEnv

from fast_rllib.tasks.driving.common import STOCK_REWARD_KEYS, DrivingTask, RewardWeights, without_keys
from fast_rllib.tasks.task import TaskInfo


class HighwayTask(DrivingTask, HighwayEnv):
    """Overtake slower traffic on a straight three-lane highway.

    Reward (see :class:`DrivingTask`), in [0, 1] per step: 0.5 centring + 0.35 progress + 0.15 keep-right
    (1 on the rightmost lane, 0 on the leftmost, linear between, as on highway-env's highway) - 0.15
    |steering|; 0 on a crash, which ends the episode, as does leaving the road. A good driver earns about
    0.85 (left lane) to 1 (right lane) per step; a lane change costs a little centring and steering.

    The ego cruises at 28 m/s among ``vehicles_count`` IDM cars at 21-24 m/s (highway-env's default speeds
    for its 30 m/s road) placed one after another ahead of it over about 300 m: with steering only it must
    change lanes to overtake, or run into them. 12 cars are about as many as it can reach in 30 s; the
    stock 50 made each step several times slower (IDM neighbour searches and collision checks).
    """

    UNOBSERVED_FEATURES = ("long_off",)  # the distance driven along one long lane: see .common
    WEIGHTS = RewardWeights(centring=0.5, progress=0.35, task=0.15)
    FINAL_EDGE = ("0", "1")

    @classmethod
    def default_config(cls) -> dict:
        config = super().default_config()
        config.update({"lanes_count": 3, "vehicles_count": 12, "ego_speed": 28.0, "ego_max_speed": 32.0})
        return without_keys(config, *STOCK_REWARD_KEYS, "reward_speed_range", "normalize_reward", "offroad_terminal")

    def _task_reward(self) -> float:
        return self.vehicle.lane_index[2] / max(self.config["lanes_count"] - 1, 1)


HIGHWAY_TASK = TaskInfo(
    task_id="fast/highway-v0",
    kind="driving",
    env_class=HighwayTask,
    description=(
        "The ego-vehicle is driving fast on a long straight three-lane highway with dashed lane "
        "markings, catching up with slower cars spread over all three lanes ahead of it. The agent's "
        "objective is to overtake them by changing lanes, keeping to the right-hand lane when it is "
        "free and to the centre of its lane, without colliding with any of them."
    ),
)
