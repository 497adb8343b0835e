"""Whether DQN learns a motorway scene when the observation shows how far along its road the car is.

Usage: python benchmarks/motorway_observation.py --task fast/highway-v0 [--arms with_long_off without_long_off]
       [--seeds 0 1 2] [--env-steps 40000]

The motorway scenes (highway, merge) report the shared observation's ``long_off`` as 0
(``UNOBSERVED_FEATURES``, fast_rllib/tasks/driving/common.py): it is not normalised, and there it grows from
tens to hundreds of metres over an episode, values a network trained on an episode's first seconds has
never seen. This probe is the measurement behind that: DQN with exactly the transfer benchmark's settings
and evaluation (``dqn_quick``: 10 fixed episodes every 1,000 env steps, seeds as given) on a scene as
shipped (arm ``without_long_off``) or as it was before, ``long_off`` observed (``with_long_off``). It writes
each run's curve, env steps to 80 % of the discrete lane follower, best and final return to
benchmarks/results/motorway_observation.json (resumable per run). Where the transfer benchmark's ``dqn_quick``
profile has stored DQN runs of an arm (the same settings, episodes and seeds) they are that arm, read, not
run again: on merge, its runs before the change (kept in results/transfer/dqn_quick_merge_with_long_off)
and after it. Highway, which judges nothing, chose the change; merge, which judges FAST on DQN, shows what
it did there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import pandas as pd
import transfer_report

RESULTS = Path(__file__).parent / "results" / "motorway_observation.json"
TRANSFER_RESULTS = Path(__file__).parent / "results" / "transfer"
STORED_RUNS = {
    "with_long_off": TRANSFER_RESULTS / "dqn_quick_merge_with_long_off" / "runs",
    "without_long_off": TRANSFER_RESULTS / "dqn_quick" / "runs",
}
ARMS = ("with_long_off", "without_long_off")
BAR_FRACTION = 0.8
ACTION_MODE = "discrete_steering"


def with_long_off_creator(task_id: str) -> Callable[[dict[str, Any]], gym.Env]:
    """The scene as it was before its ``long_off`` went unobserved."""

    def create(config: dict[str, Any]) -> gym.Env:
        from fast_rllib.tasks import get_task
        from fast_rllib.tasks.catalogue import build_task_env

        task = get_task(task_id)
        observed = type(task.env_class.__name__, (task.env_class,), {"UNOBSERVED_FEATURES": ()})
        return build_task_env(dataclasses.replace(task, env_class=observed), action_mode=ACTION_MODE)

    return create


def probe_id(task_id: str) -> str:
    return f"probe/{task_id.split('/')[-1].removesuffix('-v0')}-with-long-off-v0"


def run_arm(task: str, seed: int, env_steps: int, evaluate_every: int, episodes: int) -> list[dict[str, float]]:
    """One DQN run with the transfer benchmark's settings, evaluated on ``episodes`` fixed episodes."""
    from fast_rllib.build.target_evaluation import target_policy_return
    from fast_rllib.training.settings import racing_dqn_config
    from transfer import evaluation_schedule, train_through

    algo = racing_dqn_config(task, seed=seed).build_algo()
    rows = []
    try:
        for steps in train_through(algo, evaluation_schedule(env_steps, evaluate_every)):
            rows.append({"env_steps": steps, "return_mean": target_policy_return(algo, episodes)})
            print(f"  {task} seed {seed}: {steps} env steps, return {rows[-1]['return_mean']:.1f}", flush=True)
    finally:
        algo.stop()
    return rows


def stored_dqn_run(task_id: str, arm: str, seed: int) -> list[dict[str, float]] | None:
    path = STORED_RUNS[arm] / f"{task_id.replace('/', '_')}__dqn__seed{seed}.parquet"
    return pd.read_parquet(path)[["env_steps", "return_mean"]].to_dict("records") if path.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--env-steps", type=int, default=40_000)
    parser.add_argument("--evaluate-every", type=int, default=1_000)
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()

    import ray

    from fast_rllib import register_target
    from fast_rllib.atomic_write import write_json_atomically
    from fast_rllib.build.evaluation import mean_return, run_episodes
    from fast_rllib.build.target_evaluation import EVALUATION_SEED
    from fast_rllib.tasks.controller import LaneFollowingController

    ray.init()
    register_target(probe_id(args.task), with_long_off_creator(args.task), description=f"{args.task}, long_off observed")
    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    scene = report.setdefault(args.task, {"runs": {arm: {} for arm in ARMS}})
    scene["lane_follower"] = mean_return(run_episodes(
        args.task, LaneFollowingController(ACTION_MODE), episodes=args.episodes, seed=EVALUATION_SEED, frame_size=None,
        action_mode=ACTION_MODE,
    ))
    scene["bar"] = BAR_FRACTION * scene["lane_follower"]
    scene["env_steps"], scene["evaluate_every"] = args.env_steps, args.evaluate_every
    for seed in args.seeds:
        for arm in args.arms:
            runs = scene["runs"][arm]
            if str(seed) in runs:
                continue
            stored = stored_dqn_run(args.task, arm, seed)
            env_id = probe_id(args.task) if arm == "with_long_off" else args.task
            runs[str(seed)] = stored or run_arm(env_id, seed, args.env_steps, args.evaluate_every, args.episodes)
            write_json_atomically(RESULTS, report)
    summaries = {
        arm: {seed: transfer_report.run_summary(rows, scene["bar"], args.env_steps, args.evaluate_every) for seed, rows in runs.items()}
        for arm, runs in scene["runs"].items()
    }
    for key in ("steps_to_bar", "best_return", "final_return"):
        scene[key] = {arm: {seed: summary[key] for seed, summary in by_seed.items()} for arm, by_seed in summaries.items()}
    summary = ("lane_follower", "bar", "steps_to_bar", "best_return", "final_return")
    print(json.dumps({key: scene[key] for key in summary}, indent=1))
    write_json_atomically(RESULTS, report)


if __name__ == "__main__":
    main()
