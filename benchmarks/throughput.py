"""FAST's cost in env steps/s: FAST (without and with distillation) and SAC with identical settings, in one run.

Usage: python benchmarks/throughput.py [--steps 2000] [--target fast/indiana-v0] [--algorithm sac|dqn]

With ``--algorithm dqn`` the same three runs use DQN (FAST on DQN, its discrete zoo, the target's
discrete-steering variant): benchmarks/results/throughput_dqn.json and .png.

Both use the shared racing SAC settings (one EnvRunner x 4 envs, one update per 4 env steps). FAST adds
a similarity query every K env steps and a weight push at every behaviour switch; their share of the wall
time is read from FAST's own `fast/time_in_queries_s` and `fast/time_in_pushes_s` metrics. The warm-up
(before learning starts, and FAST's service start) is excluded. The target env alone is timed in the same
run (:mod:`env_speed`, random actions and the lane follower), so the training rates have their ceiling
beside them. FAST with distillation runs the frozen teacher on every replayed batch once a source has been
measured; the teacher and its weight at the end are reported, so that a rate measured without a pull shows. Writes
benchmarks/results/throughput.json and throughput.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import ray
import torch

import fast_rllib  # noqa: F401  (task ids)
from fast_rllib import FASTConfig, FASTDQNConfig
from fast_rllib.atomic_write import write_json_atomically
from fast_rllib.tasks.controller import LaneFollowingController
from fast_rllib.tasks.rendering import save_figure
from fast_rllib.training.settings import racing_dqn_config, racing_sac_config
from env_speed import measure as measure_env
from training_rate import measure_after_warm_up

RESULTS = Path(__file__).parent / "results" / "throughput.json"


def measure(config, measured_steps: int) -> dict[str, float]:
    algo = config.build_algo()
    spent = {"time_in_queries_s": 0.0, "time_in_pushes_s": 0.0}

    def add_fast_times(result: dict) -> None:
        fast = result.get("fast", {})
        for key in spent:  # an iteration without a query (or a push) reports NaN for that sum
            spent[key] += float(np.nan_to_num(fast.get(key, 0.0)))

    try:
        steps, wall = measure_after_warm_up(algo, measured_steps, add_fast_times)
        decisions = getattr(algo, "selector", None)
        pulled = getattr(algo, "_pull", None)
        return {
            "env_steps_per_s": round(steps / wall, 2),
            "query_share": round(spent["time_in_queries_s"] / wall, 4),
            "push_share": round(spent["time_in_pushes_s"] / wall, 4),
            "decisions": 0 if decisions is None else decisions.state.decisions,
            "switches": 0 if decisions is None else decisions.state.switches,
            "teacher_at_end": None if pulled is None else pulled.teacher,
            "distillation_weight_at_end": None if pulled is None else round(pulled.weight, 3),
        }
    finally:
        algo.stop()


def fast_config(target: str, *, distillation: bool, algorithm: str = "sac") -> FASTConfig | FASTDQNConfig:
    """FAST with the shared settings; distillation's one-off imitation phase is left out of a rate."""
    shared = racing_dqn_config(target, config=FASTDQNConfig()) if algorithm == "dqn" else racing_sac_config(target, config=FASTConfig())
    return shared.training(distillation=distillation, distillation_pretrain_updates=0).reporting(
        min_sample_timesteps_per_iteration=256
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="env steps measured after the warm-up")
    parser.add_argument("--target", default="fast/indiana-v0")
    parser.add_argument("--algorithm", choices=("sac", "dqn"), default="sac", help="the algorithm under FAST")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    from_scratch = racing_dqn_config if args.algorithm == "dqn" else racing_sac_config
    # The keys keep SAC's names (the figures' layout is the same); "algorithm" says which it was.
    report = {
        "target": args.target,
        "algorithm": args.algorithm,
        "measured_env_steps": args.steps,
        "sac": measure(from_scratch(args.target).reporting(min_sample_timesteps_per_iteration=256), args.steps),
        "fast": measure(fast_config(args.target, distillation=False, algorithm=args.algorithm), args.steps),
        "fast_distill": measure(fast_config(args.target, distillation=True, algorithm=args.algorithm), args.steps),
    }
    report["fast_over_sac"] = round(report["fast"]["env_steps_per_s"] / report["sac"]["env_steps_per_s"], 3)
    report["distill_over_fast"] = round(report["fast_distill"]["env_steps_per_s"] / report["fast"]["env_steps_per_s"], 3)
    # The env alone in this process, measured right after the training runs (the same machine state).
    report["env_only_random"] = measure_env(args.target, args.steps)["steps_per_s"]
    report["env_only_lane_follower"] = measure_env(args.target, args.steps, policy=LaneFollowingController())["steps_per_s"]
    print(json.dumps(report, indent=1))
    results = RESULTS if args.algorithm == "sac" else RESULTS.with_name("throughput_dqn.json")
    write_json_atomically(results, report)
    plot(report, results.with_suffix(".png"))


def plot(report: dict, path: Path) -> None:
    """Training env steps/s of SAC and FAST beside the env alone (random actions, lane follower)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name = report.get("algorithm", "sac").upper()
    labels = ["env only\n(random actions)", "env only\n(lane follower)", f"{name}\n(training)", f"FAST on {name}\n(training)",
              "FAST\ndistillation"]
    rates = [report["env_only_random"], report["env_only_lane_follower"], report["sac"]["env_steps_per_s"],
             report["fast"]["env_steps_per_s"], report["fast_distill"]["env_steps_per_s"]]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    bars = axis.bar(labels, rates, color=["grey", "grey", "C0", "C1", "C2"])
    axis.bar_label(bars, fmt="%.0f")
    axis.set(ylabel="env steps/s", title=f"{report['target']}: one EnvRunner x 4 envs, 1 update per 4 env steps")
    axis.grid(alpha=0.3, axis="y")
    save_figure(figure, path, dpi=110)


if __name__ == "__main__":
    main()
