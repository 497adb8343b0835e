"""Which distillation levers to turn on by default, measured on catalogue tracks that no zoo source drove.

Usage:
    python benchmarks/distillation_levers.py                 # every missing run, two at a time
    python benchmarks/distillation_levers.py --report-only   # tables from the stored runs

The held-out targets (Indiana, complex) and the generated validation tracks judge the defaults, so they
cannot choose them: the levers are compared here on catalogue racing tracks the zoo's sources were not
trained on, each lever on its own against FAST without distillation and SAC from scratch, with the
standard protocol's SAC settings and evaluation (target policy alone, deterministic, fixed seeds). Each
run is its own Parquet file (resumable); ``summary.md`` gives env steps to 50 % and 80 % of the lane
follower, the first evaluations, and the return at the end of the budget.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd
import ray

from fast_rllib.training.settings import TRAIN_BATCH_SIZE, UPDATES_PER_ENV_STEP

import transfer  # noqa: I001  (this folder's benchmark modules)
import transfer_report

OUT = Path(__file__).parent / "results" / "distillation_levers"
TARGETS = ("fast/triangle-v0", "fast/switchback-v0")
SEEDS = (0,)
ENV_STEPS, EVALUATE_EVERY, EVALUATION_EPISODES = 8_000, 1_000, 5
# Twice the shared update ratio, for the env steps a source drove (RLPD's lever).
DOUBLED_INTENSITY = 2 * TRAIN_BATCH_SIZE * UPDATES_PER_ENV_STEP
VARIANTS: dict[str, dict[str, Any] | None] = {
    "sac": None,
    "fast_bandit": {"distillation": False},
    "distill": {"distillation": True},
    "distill_pretrain": {"distillation": True, "distillation_pretrain_updates": 1_000},
    "distill_source_utd": {"distillation": True, "source_training_intensity": DOUBLED_INTENSITY},
    "distill_strong": {"distillation": True, "distillation_coefficient": 5.0},
}


def run_path(target: str, variant: str, seed: int) -> Path:
    return OUT / "runs" / f"{target.replace('/', '_')}__{variant}__seed{seed}.parquet"


def run_all(variants: list[str]) -> None:
    remote_run = ray.remote(num_cpus=1)(transfer.run_one)
    to_do = [
        (target, variant, seed)
        for seed in SEEDS
        for target in TARGETS
        for variant in variants
        if not run_path(target, variant, seed).exists()
    ]
    print(f"{len(to_do)} runs to do", flush=True)
    schedule = transfer.evaluation_schedule(ENV_STEPS, EVALUATE_EVERY)
    pending: dict[ray.ObjectRef, Path] = {}
    while to_do or pending:
        while to_do and len(pending) < max(1, int(ray.cluster_resources().get("CPU", 1))):
            target, variant, seed = to_do.pop(0)
            method = "sac" if VARIANTS[variant] is None else variant
            ref = remote_run.remote(method, target, seed, schedule, EVALUATION_EPISODES, VARIANTS[variant])
            pending[ref] = run_path(target, variant, seed)
        ready, _ = ray.wait(list(pending), num_returns=1)
        path = pending.pop(ready[0])
        transfer.write_parquet(ray.get(ready[0]), path)
        print(f"finished {path.name}; {len(to_do) + len(pending)} left", flush=True)


def report() -> str:
    curves = pd.concat([pd.read_parquet(path) for path in sorted((OUT / "runs").glob("*.parquet"))], ignore_index=True)
    lane_follower = transfer.lane_follower_returns(sorted(curves.target.unique()), EVALUATION_EPISODES, OUT)
    summary = transfer_report.summarize(curves, lane_follower, ENV_STEPS)
    transfer.write_parquet(summary, OUT / "summary.parquet")
    text = (
        f"Distillation levers on catalogue tracks no zoo source drove ({', '.join(TARGETS)}), seeds {SEEDS}, "
        f"{ENV_STEPS:,} env steps, evaluation every {EVALUATE_EVERY:,} on {EVALUATION_EPISODES} fixed seeds "
        "(`python benchmarks/distillation_levers.py`).\n\n"
        f"{transfer_report.method_table(summary)}\nThe first evaluations: the target policy's mean return as % "
        f"of the lane follower (share of env steps a source drove so far).\n\n"
        f"{transfer_report.early_table(curves, lane_follower, until=ENV_STEPS, methods=tuple(VARIANTS))}"
    )
    (OUT / "summary.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if not args.report_only:
        ray.init(include_dashboard=False)
        run_all(args.variants)
    print(report())


if __name__ == "__main__":
    main()
