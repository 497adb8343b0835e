"""What a target policy looks like when its evaluation return collapses: a probe of FAST's runs.

Usage: python benchmarks/policy_collapse.py [--method M] [--runs fast/generated-2-v0:1 ...] [--every 500]
       [--env-steps 10000]

The quick profile's runs of FAST's defaults before the stepped release showed, now and then, one evaluation
where the target returns almost nothing (every episode leaves the road at once) between two where it drives
near the lane follower. This probe reruns chosen (target, seed) pairs of a method (by default the one whose
runs collapsed) with the transfer benchmark's build and evaluation, more often, and records beside each
return what the target's policy and critic looked like: its deterministic actions on the evaluation
episodes (how many at the steering bound, how large), the size of its Gaussian's mean before the squashing
(RLlib's deterministic action is that mean, clipped to the bounds), the episodes' length, who drives and
the pull toward a teacher. Writes benchmarks/results/policy_collapse/<method>/<target>__seed<k>.parquet
(resumable per run) and prints a summary.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import ray

from transfer import EVALUATION_EPISODES, _build, _distillation_at, train_through, write_parquet

RESULTS = Path(__file__).parent / "results" / "policy_collapse"
# The method whose quick-profile runs collapsed at one evaluation, and where (its run files, 2026-12-07).
COLLAPSED_METHOD = "fast_distill_record_soft_latest"
COLLAPSED_RUNS = ("fast/generated-2-v0:1", "fast/generated-2-v0:4", "fast/generated-1-v0:4", "fast/complex-v0:4")
AT_BOUND = 0.99


def _policy_probe(module, task_id: str, action_mode: str) -> dict[str, float]:
    """Return and action statistics of the module's deterministic policy on the benchmark's episodes."""
    import torch
    from ray.rllib.core.columns import Columns

    from fast_rllib.build.evaluation import mean_return, module_policy, run_episodes
    from fast_rllib.build.target_evaluation import EVALUATION_SEED

    policy, actions, means = module_policy(module), [], []

    def recording(observation: np.ndarray) -> np.ndarray:
        action = policy(observation)
        with torch.no_grad():
            batch = {Columns.OBS: torch.as_tensor(np.asarray(observation, dtype=module.observation_space.dtype)[None])}
            inputs = module.forward_inference(batch)
        means.append(float(torch.chunk(inputs[Columns.ACTION_DIST_INPUTS], 2, dim=-1)[0].abs().mean()))
        actions.append(np.asarray(action, dtype=float))
        return action

    records = run_episodes(task_id, recording, episodes=EVALUATION_EPISODES, seed=EVALUATION_SEED, frame_size=None, action_mode=action_mode)
    low, high = module.action_space.low, module.action_space.high
    normalised = np.abs(2.0 * (np.stack(actions) - low) / (high - low) - 1.0)
    return {
        "return_mean": mean_return(records),
        "episode_length": float(np.mean([record.length for record in records])),
        "share_at_bound": float(np.mean(normalised >= AT_BOUND)),
        "mean_abs_action": float(np.mean(normalised)),
        "mean_abs_gaussian_mean": float(np.mean(means)),
    }


def probe_run(method: str, target: str, seed: int, env_steps: int, every: int) -> pd.DataFrame:
    """One run of a transfer benchmark method, probed at the first training iteration past every ``every``
    env steps (inside a Ray task); an iteration of these runs samples about 1,000, so a smaller ``every``
    probes each."""
    import torch
    from ray.rllib.core import DEFAULT_MODULE_ID

    import fast_rllib  # noqa: F401  (task ids)

    torch.set_num_threads(1)
    algo = _build(method, target, seed)
    module = algo.learner_group._learner.module[DEFAULT_MODULE_ID]
    action_mode = algo.config.env_config.get("action_mode", "steering")
    rows, start = [], time.perf_counter()
    try:
        for steps in train_through(algo, range(0, env_steps + 1, every)):
            rows.append({
                "target": target, "seed": seed, "env_steps": steps, "wall_s": round(time.perf_counter() - start, 1),
                **_policy_probe(module, target, action_mode),
                "behaviour": getattr(algo, "behaviour", ""),
                **_distillation_at(algo),
            })
            print(f"  {target} seed {seed}: {steps} steps, return {rows[-1]['return_mean']:.1f}, "
                  f"at bound {rows[-1]['share_at_bound']:.2f}", flush=True)
        return pd.DataFrame(rows)
    finally:
        algo.stop()


def _path(method: str, target: str, seed: int) -> Path:
    return RESULTS / method / f"{target.replace('/', '_')}__seed{seed}.parquet"


def summary(frames: list[pd.DataFrame]) -> str:
    """Each collapse (consecutive probes below a fifth of the run's best return) with the probe before it,
    where the pull had not yet fallen, and the probe after it."""
    blocks = []
    for frame in frames:
        low = frame.return_mean.to_numpy() < 0.2 * frame.return_mean.max()
        starts = [index for index in np.flatnonzero(low) if index > 0 and not low[index - 1]]
        for first in starts:
            last = first
            while last + 1 < len(low) and low[last + 1]:
                last += 1
            window = frame.iloc[first - 1: last + 2].drop(columns=["target", "seed", "wall_s"])
            blocks.append(f"{frame.target.iloc[0]} seed {frame.seed.iloc[0]}:\n{window.round(3).to_string(index=False)}")
    return "\n\n".join(blocks) or "no probe below a fifth of its run's best return"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default=COLLAPSED_METHOD, help="a method of benchmarks/transfer.py")
    parser.add_argument("--runs", nargs="+", default=list(COLLAPSED_RUNS), help="target:seed pairs")
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--env-steps", type=int, default=10_000)
    args = parser.parse_args()
    pairs = [(run.rsplit(":", 1)[0], int(run.rsplit(":", 1)[1])) for run in args.runs]
    to_do = [(target, seed) for target, seed in pairs if not _path(args.method, target, seed).exists()]
    if to_do:
        ray.init(include_dashboard=False)
        remote_probe = ray.remote(num_cpus=1)(probe_run)
        refs = {
            remote_probe.remote(args.method, target, seed, args.env_steps, args.every): (target, seed) for target, seed in to_do
        }
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            write_parquet(ray.get(ready[0]), _path(args.method, *refs.pop(ready[0])))
    text = summary([pd.read_parquet(_path(args.method, target, seed)) for target, seed in pairs])
    (RESULTS / args.method / "summary.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
