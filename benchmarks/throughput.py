"""FAST's cost in env steps/s: FAST and SAC with identical settings, measured in one run.

Usage: python benchmarks/throughput.py [--steps 2000] [--target fast/indiana-v0]

Both use the shared racing SAC settings (one EnvRunner x 4 envs, one update per 4 env steps). FAST adds
a similarity query every K env steps and a weight push at every behaviour switch; their share of the wall
time is read from FAST's own `fast/time_in_queries_s` and `fast/time_in_pushes_s` metrics. The warm-up
(before learning starts, and FAST's service start) is excluded. Writes benchmarks/results/throughput.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import ray
import torch

import fast_rllib  # noqa: F401  (task ids)
from fast_rllib import FASTConfig
from fast_rllib.training.settings import racing_sac_config
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
        return {
            "env_steps_per_s": round(steps / wall, 2),
            "query_share": round(spent["time_in_queries_s"] / wall, 4),
            "push_share": round(spent["time_in_pushes_s"] / wall, 4),
            "decisions": 0 if decisions is None else decisions.state.decisions,
            "switches": 0 if decisions is None else decisions.state.switches,
        }
    finally:
        algo.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="env steps measured after the warm-up")
    parser.add_argument("--target", default="fast/indiana-v0")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    report = {
        "target": args.target,
        "measured_env_steps": args.steps,
        "sac": measure(racing_sac_config(args.target).reporting(min_sample_timesteps_per_iteration=256), args.steps),
        "fast": measure(
            racing_sac_config(args.target, config=FASTConfig()).reporting(min_sample_timesteps_per_iteration=256),
            args.steps,
        ),
    }
    report["fast_over_sac"] = round(report["fast"]["env_steps_per_s"] / report["sac"]["env_steps_per_s"], 3)
    print(json.dumps(report, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    temporary = RESULTS.with_suffix(".tmp")
    temporary.write_text(json.dumps(report, indent=1))
    temporary.replace(RESULTS)


if __name__ == "__main__":
    main()
