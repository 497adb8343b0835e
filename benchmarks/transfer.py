"""Sample efficiency of FAST against SAC from scratch and simple baselines, on targets held out of the zoo.

Usage:
    python benchmarks/transfer.py --profile quick                    # this 2-core machine, about an hour
    python benchmarks/transfer.py --profile full --ray-address auto  # a cluster: 5 seeds and ablations

Every run uses the shared racing SAC settings and the same env-step budget; methods differ only in how
the EnvRunners are driven or how the target starts:

- ``sac``: SAC from scratch;
- ``fast_bandit`` / ``fast_bandit_warm``: FAST's default rule (similarity proposes, returns decide),
  without and with a warm start of the target policy from the first chosen source;
- ``fast_ft`` / ``fast_ft_hand_back``: the paper's rule (FT), alone and with hand-back;
- ``finetune``: SAC whose policy starts from the most similar source's weights (scored once, F modality);
- ``random_source``: the paper's schedule, but a random source drives instead of the most similar one.

The full profile adds ablations: K small/medium/large, a Θ sweep, a single selection at the start
(K larger than the budget), and each beyond-paper rule (guard, hand-back, hysteresis) on its own.

Every ``--evaluate-every`` env steps the target policy alone is evaluated, deterministically, on fixed
episode seeds never used in training. Each (target, method, seed) run is written to its own Parquet file
as soon as it ends, so an interrupted benchmark resumes without redoing finished runs. Outputs under
``--out`` (default ``benchmarks/results/transfer/<profile>``): ``runs/*.parquet``, ``curves.parquet``,
``<target>.png`` (mean and spread over seeds), ``summary.parquet`` and ``table.md``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import ray

from fast_rllib.tasks import HELD_OUT_TARGETS
from fast_rllib.tasks.generated import generated_task_id

RESULTS = Path(__file__).parent / "results" / "transfer"
EVALUATION_SEED, EVALUATION_EPISODES = 3000, 5
REACH_FRACTION = 0.9


@dataclass(frozen=True)
class Profile:
    targets: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    env_steps: int
    evaluate_every: int
    evaluation_episodes: int = EVALUATION_EPISODES


BASE_METHODS = ("sac", "fast_bandit", "fast_bandit_warm", "fast_ft", "fast_ft_hand_back", "finetune", "random_source")
# Generated validation tracks in the quick profile, chosen before any run: the first three seeds.
QUICK_GENERATED = tuple(generated_task_id(seed) for seed in range(3))
ABLATIONS = (
    "fast_f_k100", "fast_f_k5000", "fast_f_single", "fast_f_theta0.3", "fast_f_theta0.5",
    "fast_f", "fast_f_guard", "fast_f_hand_back", "fast_f_hysteresis", "fast_ft_guard",
)
PROFILES = {
    "quick": Profile(HELD_OUT_TARGETS + QUICK_GENERATED, BASE_METHODS, (0, 1), 10_000, 2_000),
    "full": Profile(HELD_OUT_TARGETS, BASE_METHODS + ABLATIONS, (0, 1, 2, 3, 4), 30_000, 2_500),
    # Sized for a 2-core machine, run across sessions: long enough for SAC from scratch to get as far as
    # it can (capped at 80k env steps), evaluated on 10 fixed seeds every 2,000 env steps.
    "standard": Profile(HELD_OUT_TARGETS, ("sac",), (0, 1, 2, 3, 4), 80_000, 2_000, evaluation_episodes=10),
}
# FAST keys each method sets on top of the defaults (`fast_f` is FAST with FASTConfig's defaults).
PAPER = {"selection_rule": "paper"}
FAST_OVERRIDES: dict[str, dict[str, Any]] = {
    # FAST's default rule (similarity proposes, returns decide), with and without a warm start.
    "fast_bandit": {},
    "fast_bandit_warm": {"warm_start": True},
    # The paper's rule (the best source above Θ drives), and its ablations.
    "fast_f": {**PAPER, "modality": "F"},
    "fast_ft": {**PAPER, "modality": "FT"},
    "random_source": {**PAPER, "source_choice": "random"},
    "fast_f_k100": {**PAPER, "modality": "F", "similarity_interval": 100},
    "fast_f_k5000": {**PAPER, "modality": "F", "similarity_interval": 5000},
    "fast_f_single": {**PAPER, "modality": "F", "similarity_interval": 10**9},
    "fast_f_theta0.3": {**PAPER, "modality": "F", "similarity_threshold": 0.3},
    "fast_f_theta0.5": {**PAPER, "modality": "F", "similarity_threshold": 0.5},
    "fast_f_guard": {**PAPER, "modality": "F", "negative_transfer_guard": True},
    "fast_f_hand_back": {**PAPER, "modality": "F", "hand_back": True},
    "fast_f_hysteresis": {**PAPER, "modality": "F", "hysteresis": 0.05, "similarity_interval": 250},
    "fast_ft_guard": {**PAPER, "modality": "FT", "negative_transfer_guard": True},
    "fast_ft_hand_back": {**PAPER, "modality": "FT", "hand_back": True},
}
KNOWN_METHODS = ("sac", "finetune", *FAST_OVERRIDES)


# One run ------------------------------------------------------------------------------------------------


def _build(method: str, target: str, seed: int):
    from fast_rllib import FASTConfig
    from fast_rllib.training.settings import racing_sac_config

    if method in ("sac", "finetune"):
        algo = racing_sac_config(target, seed=seed).build_algo()
        if method == "finetune":
            _start_from_most_similar_source(algo, target, seed)
        return algo
    if method not in FAST_OVERRIDES:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(KNOWN_METHODS)}")
    return racing_sac_config(target, seed=seed, config=FASTConfig()).training(**FAST_OVERRIDES[method]).build_algo()


def _start_from_most_similar_source(algo, target: str, seed: int) -> None:
    """Copy the policy weights of the source FAST would pick first (default scores of one random-action
    stack and the target's description)."""
    from ray.rllib.core import DEFAULT_MODULE_ID

    from fast_rllib.fast import FASTConfig
    from fast_rllib.build.frame_collection import collect_frame_stacks
    from fast_rllib.repository import SourceRepository
    from fast_rllib.service import SimilarityService

    defaults = FASTConfig()
    service = SimilarityService(**{**defaults.similarity_service_settings(), "repository_path": defaults.resolved_repository_path})
    stack = collect_frame_stacks(target, 1, defaults.frame_size, seed=seed)
    scores = service.scores(stack, defaults.environment(target).resolved_target_description)
    best = max(scores, key=scores.get)
    state = SourceRepository.load(defaults.resolved_repository_path)[best].inference_state()
    algo.learner_group._learner.module[DEFAULT_MODULE_ID].set_state(state)
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)
    print(f"  finetune on {target} seed {seed}: starts from {best!r} (score {scores[best]:.3f})", flush=True)


def run_one(
    method: str, target: str, seed: int, env_steps: int, evaluate_every: int, evaluation_episodes: int = EVALUATION_EPISODES
) -> pd.DataFrame:
    """Train one method and evaluate its target policy along the way (runs inside a Ray task)."""
    import torch
    from ray.rllib.core import DEFAULT_MODULE_ID

    import fast_rllib  # noqa: F401  (task ids)
    from fast_rllib.build.evaluation import mean_return, module_policy, run_episodes

    torch.set_num_threads(1)
    algo = _build(method, target, seed)
    rows, next_evaluation, start = [], 0, time.perf_counter()
    try:
        while True:
            steps = int(algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0))
            if steps >= next_evaluation:
                module = algo.learner_group._learner.module[DEFAULT_MODULE_ID]
                policy = module_policy(module)
                records = run_episodes(target, policy, episodes=evaluation_episodes, seed=EVALUATION_SEED, frame_size=None)
                following = getattr(algo, "selector", None)
                rows.append({
                    "target": target, "method": method, "seed": seed, "env_steps": steps,
                    "return_mean": mean_return(records), "wall_s": round(time.perf_counter() - start, 1),
                    "source_steps": 0 if following is None else sum(
                        n for behaviour, n in following.state.env_steps.items() if behaviour != "target"
                    ),
                })
                print(f"  {target} {method} seed {seed}: {steps} steps, return {rows[-1]['return_mean']:.1f}", flush=True)
                next_evaluation += evaluate_every
            if steps >= env_steps:
                return pd.DataFrame(rows)
            algo.train()
    finally:
        algo.stop()


# Driving the runs ---------------------------------------------------------------------------------------


def _run_path(out: Path, target: str, method: str, seed: int) -> Path:
    return out / "runs" / f"{target.replace('/', '_')}__{method}__seed{seed}.parquet"


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(temporary)
    temporary.replace(path)


def run_profile(
    profile: Profile, out: Path, methods: Sequence[str] | None = None, targets: Sequence[str] | None = None
) -> pd.DataFrame:
    remote_run = ray.remote(num_cpus=1)(run_one)
    pending = {}
    for target in targets or profile.targets:
        for seed in profile.seeds:
            for method in methods or profile.methods:
                path = _run_path(out, target, method, seed)
                if path.exists():
                    continue
                ref = remote_run.remote(
                    method, target, seed, profile.env_steps, profile.evaluate_every, profile.evaluation_episodes
                )
                pending[ref] = path
    print(f"{len(pending)} runs to do, {sum(1 for _ in (out / 'runs').glob('*.parquet')) if (out / 'runs').exists() else 0} done")
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        path = pending.pop(ready[0])
        _write_parquet(ray.get(ready[0]), path)
        print(f"finished {path.name}; {len(pending)} left", flush=True)
    return pd.concat([pd.read_parquet(path) for path in sorted((out / "runs").glob("*.parquet"))], ignore_index=True)


# Figures ------------------------------------------------------------------------------------------------


def _steps_to_reach(curve: pd.DataFrame, level: float) -> float:
    reached = curve[curve.return_mean >= level]
    return float(reached.evaluation_step.iloc[0]) if len(reached) else float("nan")


def summarize(curves: pd.DataFrame) -> pd.DataFrame:
    """Per target, method and seed: steps to reach 90% of SAC's final return, final return, AUC."""
    rows = []
    for target, per_target in curves.groupby("target"):
        budget = per_target.evaluation_step.max()
        sac = per_target[per_target.method == "sac"]
        sac_final = sac[sac.env_steps == sac.groupby("seed").env_steps.transform("max")].return_mean.mean()
        level = REACH_FRACTION * sac_final
        sac_steps = _steps_to_reach(sac.groupby("evaluation_step", as_index=False).return_mean.mean(), level)
        for (method, seed), curve in per_target.groupby(["method", "seed"]):
            curve = curve.sort_values("evaluation_step")
            steps = _steps_to_reach(curve, level)
            rows.append({
                "target": target, "method": method, "seed": seed,
                "sac_final_return": sac_final, "final_return": curve.return_mean.iloc[-1],
                "steps_to_90pct_sac": steps, "sac_steps_to_90pct": sac_steps,
                "auc": float(np.trapezoid(curve.return_mean, curve.evaluation_step) / budget),
                "source_share": curve.source_steps.iloc[-1] / max(curve.env_steps.iloc[-1], 1),
            })
    return pd.DataFrame(rows)


def _steps_headline(steps: pd.Series) -> str:
    """The mean over seeds only when every seed got there: averaging the seeds that did would hide the
    ones that never did."""
    reached = int(steps.notna().sum())
    if reached == len(steps):
        return f"{steps.mean():.0f}"
    return "never" if reached == 0 else f"{reached}/{len(steps)} seeds"


def markdown_table(summary: pd.DataFrame) -> str:
    lines = [
        "| target | method | env steps to 90% of SAC's final (per seed) | fewer steps than SAC | final return / SAC's (per seed) | AUC (per seed) | source share |",
        "|---|---|---|---|---|---|---|",
    ]
    for (target, method), group in summary.groupby(["target", "method"], sort=False):
        steps = group.steps_to_90pct_sac
        fewer = 1 - steps.mean() / group.sac_steps_to_90pct.iloc[0] if steps.notna().all() else float("nan")
        ratio = group.final_return / group.sac_final_return
        per_seed = lambda values, fmt: ", ".join("never" if np.isnan(v) else format(v, fmt) for v in values)  # noqa: E731
        lines.append(
            f"| `{target}` | {method} | {_steps_headline(steps)} ({per_seed(steps, '.0f')}) | "
            f"{'n/a' if np.isnan(fewer) else f'{fewer:+.0%}'} | {ratio.mean():.2f} ({per_seed(ratio, '.2f')}) | "
            f"{group.auc.mean():.1f} ({per_seed(group.auc, '.1f')}) | {group.source_share.mean():.0%} |"
        )
    return "\n".join(lines) + "\n"


def plot(curves: pd.DataFrame, out: Path, evaluation_episodes: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for target, per_target in curves.groupby("target"):
        figure, axis = plt.subplots(figsize=(7, 4.2))
        for method, per_method in per_target.groupby("method"):
            stats = per_method.groupby("evaluation_step").return_mean.agg(["mean", "std", "count"]).reset_index()
            axis.plot(stats.evaluation_step, stats["mean"], label=f"{method} ({int(stats['count'].max())} seeds)")
            axis.fill_between(stats.evaluation_step, stats["mean"] - stats["std"].fillna(0), stats["mean"] + stats["std"].fillna(0), alpha=0.15)
        axis.set_xlabel("env steps")
        axis.set_ylabel(f"target return (deterministic, {evaluation_episodes} fixed seeds)")
        axis.set_title(target)
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
        path = out / f"{target.replace('/', '_')}.png"
        temporary = path.with_name(f".{path.name}.tmp.png")
        figure.savefig(temporary, dpi=110, bbox_inches="tight")
        plt.close(figure)
        temporary.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/transfer/<profile>")
    parser.add_argument("--ray-address", default=None, help="a running cluster (default: a local one)")
    parser.add_argument(
        "--methods", nargs="+", default=None,
        help="run these methods (default: the profile's) with the profile's targets, seeds and budget",
    )
    parser.add_argument("--targets", nargs="+", default=None, help="run these of the profile's targets only")
    args = parser.parse_args()
    profile = PROFILES[args.profile]
    out = args.out or RESULTS / args.profile
    unknown = set(args.methods or ()) - set(KNOWN_METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; known: {', '.join(KNOWN_METHODS)}")
    ray.init(address=args.ray_address, include_dashboard=False)  # runs print their progress to the driver
    unknown_targets = set(args.targets or ()) - set(profile.targets)
    if unknown_targets:
        parser.error(f"targets {sorted(unknown_targets)} are not in the {args.profile} profile: {', '.join(profile.targets)}")
    curves = run_profile(profile, out, args.methods, args.targets)
    # Evaluations happen at the first iteration past each multiple of evaluate_every, a few env steps
    # later in one run than in another: align them on the nominal step before averaging over seeds.
    curves["evaluation_step"] = curves.env_steps // profile.evaluate_every * profile.evaluate_every
    _write_parquet(curves, out / "curves.parquet")
    summary = summarize(curves)
    _write_parquet(summary, out / "summary.parquet")
    table = markdown_table(summary)
    temporary = out / ".table.md.tmp"
    temporary.write_text(table)
    temporary.replace(out / "table.md")
    plot(curves, out, profile.evaluation_episodes)
    print(table)


if __name__ == "__main__":
    main()
