"""How many discrete steering angles the discrete-steering tasks need: the lane follower, quantised.

Usage: python benchmarks/discrete_steering.py [--episodes 5]

The ``discrete_steering`` action mode (fast_rllib/tasks/spec.py) offers n steering angles evenly spread over
+-45 degrees; its lane follower picks the one nearest the continuous control law. Driving the continuous
task with the continuous lane follower's steering rounded to n levels is exactly that (the reward sees the
applied steering either way), so this script measures, for several n, the quantised lane follower's return
as a share of the continuous one's on the catalogue's racing tracks that are not held out (the held-out
targets judge FAST on DQN and chose nothing), on the source evaluation seeds. Writes
benchmarks/results/discrete_steering.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fast_rllib.atomic_write import write_json_atomically
from fast_rllib.build.evaluation import mean_return, run_episodes
from fast_rllib.build.source_training import EVALUATION_SEED
from fast_rllib.tasks import task_ids
from fast_rllib.tasks.controller import LaneFollowingController, nearest_steering_index
from fast_rllib.tasks.spec import DISCRETE_STEERING_ACTIONS

RESULTS = Path(__file__).parent / "results" / "discrete_steering.json"
ANGLE_COUNTS = (3, 5, 7, 9, 11, 15)


def quantised(controller: LaneFollowingController, angles: int):
    """The controller's steering rounded to the nearest of ``angles`` evenly spread values in [-1, 1], the
    angle the discrete lane follower would pick with that many."""
    levels = np.linspace(-1.0, 1.0, angles)

    def policy(observation: np.ndarray) -> np.ndarray:
        steering = float(controller(observation)[0])
        return np.array([levels[nearest_steering_index(steering, angles)]], dtype=np.float32)

    return policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=5)
    args = parser.parse_args()
    tracks = task_ids("racing", held_out=False)
    controller = LaneFollowingController()

    def track_return(track: str, policy) -> float:
        return mean_return(run_episodes(track, policy, episodes=args.episodes, seed=EVALUATION_SEED, frame_size=None))

    continuous = {track: track_return(track, controller) for track in tracks}
    shares = {
        angles: {track: track_return(track, quantised(controller, angles)) / continuous[track] for track in tracks}
        for angles in ANGLE_COUNTS
    }
    report = {
        "tracks": tracks,
        "episodes": args.episodes,
        "seed": EVALUATION_SEED,
        "continuous_lane_follower": continuous,
        "share_of_continuous": {str(angles): by_track for angles, by_track in shares.items()},
        "mean_share": {str(angles): round(float(np.mean(list(by_track.values()))), 4) for angles, by_track in shares.items()},
        "lowest_share": {str(angles): round(float(min(by_track.values())), 4) for angles, by_track in shares.items()},
        "shipped_angles": DISCRETE_STEERING_ACTIONS,
    }
    print(json.dumps({key: report[key] for key in ("mean_share", "lowest_share", "shipped_angles")}, indent=1))
    write_json_atomically(RESULTS, report)


if __name__ == "__main__":
    main()
