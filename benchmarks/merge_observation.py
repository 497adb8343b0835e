"""Whether DQN learns the merge scene once the observation hides how far along its road the car is.

Usage: python benchmarks/merge_observation.py [--seeds 0 1 2] [--env-steps 40000]

FAST on DQN saves nothing on merge because no source drives it (docs/dqn.md), and DQN from scratch on merge
itself never reached 80 % of the lane follower by 40,000 env steps, though steering 0 on every step does.
One candidate cause is the shared observation: its ``long_off`` features are not normalised, and on a
motorway they grow from tens to hundreds of metres over an episode, values a network trained on an
episode's first seconds has never seen. This probe trains DQN, with exactly the transfer benchmark's
settings and evaluation (``dqn_quick``: 10 fixed episodes every 1,000 env steps, the same seeds), on merge
with every ``long_off`` column set to 0, and writes each run's curve and env steps to the bar to
benchmarks/results/merge_observation.json, beside the stored DQN runs on the unchanged scene. It measures a
cause; it chooses nothing (merge judges FAST on DQN).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "merge_observation.json"
TRANSFER_RESULTS = Path(__file__).parent / "results" / "transfer" / "dqn_quick"
TARGET = "fast/merge-v0"
PROBE_ID = "probe/merge-without-long-off-v0"
BAR_FRACTION = 0.8


class WithoutLongitudinalOffset(gym.ObservationWrapper):
    """Sets every vehicle row's ``long_off`` to 0 in the flat shared observation."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        from fast_rllib.tasks.spec import KINEMATICS_FEATURES, OBSERVATION_SIZE

        self._columns = np.arange(KINEMATICS_FEATURES.index("long_off"), OBSERVATION_SIZE, len(KINEMATICS_FEATURES))

    def observation(self, observation: np.ndarray) -> np.ndarray:
        observation = observation.copy()
        observation[self._columns] = 0.0
        return observation


def merge_without_long_offset(config: dict[str, Any]) -> gym.Env:
    from fast_rllib.tasks import make_task_env

    return WithoutLongitudinalOffset(make_task_env(TARGET, action_mode="discrete_steering"))


def run_seed(seed: int, env_steps: int, evaluate_every: int, episodes: int) -> list[dict[str, float]]:
    from fast_rllib.build.target_evaluation import target_policy_return
    from fast_rllib.training.settings import racing_dqn_config
    from transfer import evaluation_schedule, train_through

    algo = racing_dqn_config(PROBE_ID, seed=seed).build_algo()
    rows = []
    try:
        for steps in train_through(algo, evaluation_schedule(env_steps, evaluate_every)):
            rows.append({"env_steps": steps, "return_mean": target_policy_return(algo, episodes)})
            print(f"  seed {seed}: {steps} env steps, return {rows[-1]['return_mean']:.1f}", flush=True)
    finally:
        algo.stop()
    return rows


def steps_to_bar(rows: list[dict[str, float]], bar: float, evaluate_every: int) -> int | None:
    """The first evaluation grid point at which the return reaches ``bar`` (None: never)."""
    for row in rows:
        if row["return_mean"] >= bar:
            return int(row["env_steps"] // evaluate_every * evaluate_every)
    return None


def stored_dqn_runs(seeds: list[int]) -> dict[int, list[dict[str, float]]]:
    runs = {}
    for seed in seeds:
        frame = pd.read_parquet(TRANSFER_RESULTS / "runs" / f"fast_merge-v0__dqn__seed{seed}.parquet")
        runs[seed] = frame[["env_steps", "return_mean"]].to_dict("records")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--env-steps", type=int, default=40_000)
    parser.add_argument("--evaluate-every", type=int, default=1_000)
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()

    import ray

    from fast_rllib import register_target
    from fast_rllib.atomic_write import write_json_atomically

    ray.init()
    register_target(PROBE_ID, merge_without_long_offset, description="merge, every long_off set to 0")
    lane_follower = json.loads((TRANSFER_RESULTS / "lane_follower.json").read_text())
    bar = BAR_FRACTION * lane_follower[f"{TARGET}@{args.episodes}#discrete_steering"]
    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"probe": {}}
    for seed in args.seeds:
        if str(seed) in report["probe"]:
            continue
        report["probe"][str(seed)] = run_seed(seed, args.env_steps, args.evaluate_every, args.episodes)
        write_json_atomically(RESULTS, report)  # resumable per seed
    unchanged = stored_dqn_runs(args.seeds)
    report.update({
        "bar": bar,
        "env_steps": args.env_steps,
        "steps_to_bar": {
            "without_long_off": {seed: steps_to_bar(report["probe"][str(seed)], bar, args.evaluate_every) for seed in args.seeds},
            "unchanged": {seed: steps_to_bar(unchanged[seed], bar, args.evaluate_every) for seed in args.seeds},
        },
        "best_return": {
            "without_long_off": {seed: max(r["return_mean"] for r in report["probe"][str(seed)]) for seed in args.seeds},
            "unchanged": {seed: max(r["return_mean"] for r in unchanged[seed]) for seed in args.seeds},
        },
    })
    print(json.dumps({key: report[key] for key in ("bar", "steps_to_bar", "best_return")}, indent=1))
    write_json_atomically(RESULTS, report)


if __name__ == "__main__":
    main()
