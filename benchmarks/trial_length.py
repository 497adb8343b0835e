"""How long FAST on DQN should try a candidate source: a whole round, or until its episodes measure it.

Usage: python benchmarks/trial_length.py [--task fast/highway-v0] [--arms round_trials measured_trials]
       [--seeds 0 1 2] [--env-steps 5000]

FAST's default rule tries each candidate for one round of K env steps. A candidate that leaves the road
ends its episodes within a few env steps, yet keeps driving, and teaching, until the next decision: on the
discrete zoo the transfer records put ``roundabout-v0`` first on the motorways, where it crashes at once.
``end_trials_when_measured`` ends a trial as soon as the candidate has ``min_episodes_to_compare``
episodes. This probe measures both on a catalogue scene that judges nothing, with the scene's own source
left out of the repository (a copy of the discrete zoo without it), so that every source is new to it as
to a held-out target: FAST on DQN with dqn_quick's settings and evaluation (10 fixed episodes every 1,000
env steps), arm ``round_trials`` (trials hold the round, as dqn_quick's runs ran) or ``measured_trials``.

The rule, written before any run: ``measured_trials`` becomes FAST on DQN's default if, on highway over
seeds 0-2, its mean env steps to 80 % of the discrete lane follower are fewer than ``round_trials'`` and
its mean evaluation over the run (1,000 to ``--env-steps``) is not lower. Writes each run's curve, the env
steps each behaviour drove, and the summary to benchmarks/results/trial_length/ (a file per run, so that
runs in parallel processes and interrupted ones lose nothing; the summary is rebuilt from every stored run).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import transfer_report

RESULTS = Path(__file__).parent / "results" / "trial_length"
ARMS = {"round_trials": False, "measured_trials": True}
BAR_FRACTION = 0.8
ACTION_MODE = "discrete_steering"


def repository_without(source: str, folder: Path) -> Path:
    """A copy of the discrete zoo without ``source`` (the task's own), in ``folder``."""
    from fast_rllib.repository import DISCRETE_REPOSITORY
    from fast_rllib.repository.writing import remove_entry

    root = folder / "zoo"
    shutil.copytree(DISCRETE_REPOSITORY, root)
    remove_entry(root, source)
    return root


def run_arm(task: str, repository: Path, arm: str, seed: int, env_steps: int, episodes: int) -> list[dict[str, Any]]:
    """One FAST on DQN run, evaluated every 1,000 env steps; each row also says how long each behaviour drove."""
    from fast_rllib import FASTDQNConfig
    from fast_rllib.build.target_evaluation import target_policy_return
    from fast_rllib.training.settings import racing_dqn_config
    from transfer import FAST_DQN_AS_RAN, evaluation_schedule, train_through

    config = FASTDQNConfig().training(
        **{**FAST_DQN_AS_RAN, "end_trials_when_measured": ARMS[arm]}, repository_path=str(repository)
    )
    algo = racing_dqn_config(task, seed=seed, config=config).build_algo()
    rows = []
    try:
        for steps in train_through(algo, evaluation_schedule(env_steps, 1_000)):
            rows.append({
                "env_steps": steps, "return_mean": target_policy_return(algo, episodes),
                "drove": dict(algo.selector.state.env_steps), "teacher": algo.distillation_pull.teacher or "",
            })
            print(f"  {task} {arm} seed {seed}: {steps} env steps, return {rows[-1]['return_mean']:.1f}, "
                  f"drove {rows[-1]['drove']}", flush=True)
    finally:
        algo.stop()
    return rows


def run_path(task: str, arm: str, seed: int | str) -> Path:
    """Where one run is stored (``seed="*"``: the glob of an arm's runs)."""
    return RESULTS / "runs" / f"{task.replace('/', '_')}__{arm}__seed{seed}.json"


def summary(task: str, bar: float, env_steps: int) -> dict[str, Any]:
    """Per arm, from every stored run of ``task``: each seed's env steps to the bar and mean evaluation after
    the first, and their means over seeds."""
    out: dict[str, Any] = {}
    for arm in ARMS:
        per_seed = {}
        pattern = run_path(task, arm, "*")
        for path in sorted(pattern.parent.glob(pattern.name)):
            rows = json.loads(path.read_text())
            per_seed[path.stem.rsplit("seed", 1)[1]] = {
                **transfer_report.run_summary(rows, bar, env_steps, 1_000),
                "mean_evaluation": float(np.mean([row["return_mean"] for row in rows if row["env_steps"] >= 1_000])),
            }
        reached = [run["steps_to_bar"] for run in per_seed.values()]
        out[arm] = {
            "seeds": per_seed,
            "mean_steps_to_bar": float(np.mean(reached)) if reached and None not in reached else None,
            "mean_evaluation": float(np.mean([run["mean_evaluation"] for run in per_seed.values()])) if per_seed else None,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="fast/highway-v0")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--env-steps", type=int, default=5_000)
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()

    import ray

    from fast_rllib.atomic_write import write_json_atomically
    from transfer import lane_follower_returns

    ray.init()
    own_source = args.task.split("/")[-1]
    lane_follower = lane_follower_returns([args.task], args.episodes, RESULTS, ACTION_MODE)[args.task]
    with tempfile.TemporaryDirectory(prefix="trial_length_") as folder:
        repository = repository_without(own_source, Path(folder))
        for seed in args.seeds:
            for arm in args.arms:
                path = run_path(args.task, arm, seed)
                if not path.exists():
                    write_json_atomically(path, run_arm(args.task, repository, arm, seed, args.env_steps, args.episodes))
    result = {
        "task": args.task, "left_out": own_source, "env_steps": args.env_steps, "episodes": args.episodes,
        "lane_follower": lane_follower, "bar": BAR_FRACTION * lane_follower,
        "arms": summary(args.task, BAR_FRACTION * lane_follower, args.env_steps),
    }
    print(json.dumps(result, indent=1))
    write_json_atomically(RESULTS / f"{args.task.replace('/', '_')}.json", result)


if __name__ == "__main__":
    main()
