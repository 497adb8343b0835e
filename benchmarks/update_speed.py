"""Training-loop speed of SAC on RLlib: stock episode replay vs TransitionSAC's transition replay.

Usage:
    python benchmarks/update_speed.py --parts costs,throughput          # ~10 minutes
    python benchmarks/update_speed.py --parts learning --seeds 0 1 2     # ~1 hour

Three figures, each measured side by side in one run (this machine is noisy: compare ratios):

- costs: one replay sample of 256 plus one learner update, for the stock path (RLlib's episode buffer +
  ``learner_group.update(episodes=...)``), the transition path (our buffer +
  ``learner_group.update(batch=...)``) and the raw torch cost of the same SAC loss on the same module
  (forward, losses, backward, four Adam steps, Polyak update; no RLlib plumbing), for both Q networks.
- throughput: env steps/s of full training runs at one update per 4 env steps: TransitionSAC, stock
  RLlib SAC and Stable-Baselines3 SAC (if installed), identical env, networks, batch and replay ratio.
- learning: deterministic evaluation returns of the target policy on fixed seeds along training, with
  the transition path and the stock path, several seeds; learning must be unchanged.

Writes ``benchmarks/results/update_speed.json`` (and ``update_speed_learning.parquet``).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

torch.set_num_threads(1)

import ray  # noqa: E402
from ray.rllib.core import DEFAULT_MODULE_ID  # noqa: E402
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch  # noqa: E402

import fast_rllib  # noqa: E402,F401
from fast_rllib.atomic_write import write_atomically, write_json_atomically  # noqa: E402
from fast_rllib.build.evaluation import mean_return, module_policy, run_episodes  # noqa: E402
from fast_rllib.tasks.controller import LaneFollowingController  # noqa: E402
from fast_rllib.training.replay import TransitionReplayBuffer  # noqa: E402
from fast_rllib.training.settings import TRAIN_BATCH_SIZE, UPDATES_PER_ENV_STEP, racing_sac_config  # noqa: E402
from training_rate import measure_after_warm_up, sampled_steps  # noqa: E402

TASK = "fast/racetrack-v0"
RESULTS = Path(__file__).parent / "results"
# Evaluation episodes use seeds 2000..2004, never seen in training (training seeds are small integers).
EVALUATION_SEED, EVALUATION_EPISODES = 2000, 5


def _time_ms(function: Callable[[], Any], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats * 1000


# Costs ------------------------------------------------------------------------------------------------


def _raw_sac_step(module: torch.nn.Module, gamma: float, tau: float) -> Callable[[dict], None]:
    """The same SAC loss as RLlib's SACTorchLearner, in plain torch on a copy of the same module."""
    log_alpha = torch.zeros(1, requires_grad=True)
    groups = {
        "qf": [*module.qf_encoder.parameters(), *module.qf.parameters()],
        "qf_twin": [*module.qf_twin_encoder.parameters(), *module.qf_twin.parameters()],
        "pi": [*module.pi_encoder.parameters(), *module.pi.parameters()],
    }
    optimizers = [torch.optim.Adam(params, lr=3e-4, eps=1e-7) for params in groups.values()]
    optimizers.append(torch.optim.Adam([log_alpha], lr=3e-4, eps=1e-7))
    targets = [*module.target_qf_encoder.parameters(), *module.target_qf.parameters()]
    targets += [*module.target_qf_twin_encoder.parameters(), *module.target_qf_twin.parameters()]
    sources = groups["qf"] + groups["qf_twin"]
    target_entropy = -float(np.prod(module.action_space.shape))
    huber = torch.nn.HuberLoss()

    def step(batch: dict) -> None:
        out = module.forward_train(batch)
        alpha = log_alpha.exp()
        next_value = out["q_target_next"] - alpha.detach() * out["logp_next_resampled"]
        not_done = 1.0 - batch["terminateds"].float()
        q_target = (batch["rewards"] + gamma ** batch["n_step"] * not_done * next_value).detach()
        critic = huber(out["qf_preds"], q_target) + huber(out["qf_twin_preds"], q_target)
        actor = (alpha.detach() * out["logp_resampled"] - out["q_curr"]).mean()
        temperature = -(log_alpha * (out["logp_resampled"].detach() + target_entropy)).mean()
        for optimizer in optimizers:
            optimizer.zero_grad()
        (critic + actor + temperature).backward()
        for optimizer in optimizers:
            optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(targets, sources, tau)

    return step


def measure_costs(q_network: str, repeats: int) -> dict[str, float]:
    config = racing_sac_config(TASK, num_env_runners=0).training(
        q_network=q_network,
        transition_replay=False,
        replay_buffer_config={"type": "PrioritizedEpisodeReplayBuffer", "capacity": 100_000, "alpha": 0.6, "beta": 0.4},
    )
    algo = config.build_algo()
    episodes = algo.env_runner.sample(num_timesteps=3000, random_actions=True)
    algo.local_replay_buffer.add(episodes)
    transitions = TransitionReplayBuffer(100_000, 45, 1, prioritized=True, alpha=0.6, seed=0)
    transitions.add_episodes(episodes)
    learner_group = algo.learner_group
    timesteps = {"num_env_steps_sampled_lifetime": 3000}

    def stock_sample():
        return algo.local_replay_buffer.sample(
            num_items=TRAIN_BATCH_SIZE, n_step=1, gamma=0.99, beta=0.4, sample_episodes=True,
            batch_length_T=0, lookback=0, min_batch_length_T=0,
        )

    def fast_sample() -> MultiAgentBatch:
        arrays = transitions.sample(TRAIN_BATCH_SIZE, beta=0.4)
        tensors = SampleBatch({key: torch.from_numpy(value) for key, value in arrays.items()})
        return MultiAgentBatch({DEFAULT_MODULE_ID: tensors}, env_steps=TRAIN_BATCH_SIZE)

    stock_episodes, fast_batch = stock_sample(), fast_sample()
    raw_module = copy.deepcopy(learner_group._learner.module[DEFAULT_MODULE_ID])
    raw_step = _raw_sac_step(raw_module, gamma=0.99, tau=config.tau)
    raw_batch = dict(fast_batch.policy_batches[DEFAULT_MODULE_ID])
    costs = {
        "stock_sample_ms": _time_ms(stock_sample, repeats),
        "stock_update_ms": _time_ms(lambda: learner_group.update(episodes=stock_episodes, timesteps=timesteps), repeats),
        "fast_sample_ms": _time_ms(fast_sample, repeats),
        "fast_update_ms": _time_ms(lambda: learner_group.update(batch=fast_batch, timesteps=timesteps), repeats),
        "raw_torch_ms": _time_ms(lambda: raw_step(raw_batch), repeats),
    }
    algo.stop()
    costs["stock_total_ms"] = costs["stock_sample_ms"] + costs["stock_update_ms"]
    costs["fast_total_ms"] = costs["fast_sample_ms"] + costs["fast_update_ms"]
    costs["fast_over_raw"] = costs["fast_total_ms"] / costs["raw_torch_ms"]
    costs["stock_over_fast"] = costs["stock_total_ms"] / costs["fast_total_ms"]
    return {key: round(value, 2) for key, value in costs.items()}


# Throughput -------------------------------------------------------------------------------------------


def _racing_config(transition_replay: bool, seed: int = 0):
    """The shared racing settings on the transition path or on the stock path, at the same replay ratio.

    Stock DQN/SAC turns training_intensity into whole updates per sampling round against a "native ratio"
    that counts a local EnvRunner which never samples here; the stock path is therefore asked for the
    training_intensity that gives the same 8 updates per 32-step round as the transition path.
    """
    config = racing_sac_config(TASK, seed=seed).training(transition_replay=transition_replay)
    if not transition_replay:
        native_ratio = TRAIN_BATCH_SIZE / (8 * 4 * (config.num_env_runners + 1))
        config.training(training_intensity=32 * UPDATES_PER_ENV_STEP * native_ratio)
    return config


def _rllib_steps_per_s(transition_replay: bool, measured_steps: int, sample_ahead: bool = True) -> float:
    """Env steps/s of a whole training run once learning has started (warm-up excluded)."""
    config = _racing_config(transition_replay).training(sample_ahead=sample_ahead)
    config.reporting(min_sample_timesteps_per_iteration=256)
    algo = config.build_algo()
    last: dict[str, Any] = {}
    steps, wall = measure_after_warm_up(algo, measured_steps, last.update)
    rate = steps / wall
    trained = last["learners"][DEFAULT_MODULE_ID]["num_module_steps_trained_lifetime"] / TRAIN_BATCH_SIZE
    total_steps = sampled_steps(algo)
    algo.stop()
    path = ("transition" + ("" if sample_ahead else " (no sample-ahead)")) if transition_replay else "stock"
    print(f"  {path}: {rate:.1f} env steps/s, {trained:.0f} updates for {total_steps} env steps")
    return rate


def _sb3_steps_per_s(measured_steps: int) -> float | None:
    try:
        from stable_baselines3 import SAC as SB3SAC
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.vec_env import DummyVecEnv
    except ImportError:
        print("  stable-baselines3 is not installed: `pip install stable-baselines3` to include it")
        return None
    from fast_rllib.tasks import make_task_env

    class Clock(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.marks: list[tuple[int, float]] = []

        def _on_step(self) -> bool:
            self.marks.append((self.num_timesteps, time.perf_counter()))
            return True

    env = DummyVecEnv([lambda: make_task_env(TASK) for _ in range(4)])
    # One gradient step per vector step of 4 envs: one update per 4 env steps, as the RLlib runs.
    model = SB3SAC(
        "MlpPolicy", env, learning_rate=3e-4, buffer_size=100_000, learning_starts=1000, batch_size=TRAIN_BATCH_SIZE,
        train_freq=1, gradient_steps=1, policy_kwargs={"net_arch": [256, 256]}, seed=0, device="cpu",
    )
    clock = Clock()
    model.learn(total_timesteps=1000 + 256 + measured_steps, callback=clock)
    (start_steps, start), (end_steps, end) = next(m for m in clock.marks if m[0] >= 1256), clock.marks[-1]
    rate = (end_steps - start_steps) / (end - start)
    print(f"  stable-baselines3: {rate:.1f} env steps/s")
    return rate


def measure_throughput(measured_steps: int) -> dict[str, float | None]:
    figures = {
        "transition_sac": _rllib_steps_per_s(True, measured_steps),
        "transition_sac_no_sample_ahead": _rllib_steps_per_s(True, measured_steps, sample_ahead=False),
        "stock_sac": _rllib_steps_per_s(False, measured_steps),
        "sb3_sac": _sb3_steps_per_s(measured_steps),
    }
    figures["transition_over_stock"] = figures["transition_sac"] / figures["stock_sac"]
    if figures["sb3_sac"]:
        figures["transition_over_sb3"] = figures["transition_sac"] / figures["sb3_sac"]
    return {key: None if value is None else round(value, 2) for key, value in figures.items()}


# Learning ---------------------------------------------------------------------------------------------


def learning_curve(transition_replay: bool, seed: int, total_steps: int, every: int) -> list[dict[str, Any]]:
    config = _racing_config(transition_replay, seed)
    algo = config.build_algo()
    rows, next_evaluation, start = [], every, time.perf_counter()
    while True:
        result = algo.train()
        steps = result["num_env_steps_sampled_lifetime"]
        if steps >= next_evaluation:
            module = algo.learner_group._learner.module[DEFAULT_MODULE_ID]
            episode_return = mean_return(run_episodes(TASK, module_policy(module), episodes=EVALUATION_EPISODES, seed=EVALUATION_SEED, frame_size=None))
            path = "transition" if transition_replay else "stock"
            rows.append({"path": path, "seed": seed, "env_steps": int(steps), "return_mean": episode_return,
                         "wall_s": round(time.perf_counter() - start, 1)})
            print(f"  {path} seed {seed}: {steps} steps, return {episode_return:.1f}, {rows[-1]['wall_s']} s", flush=True)
            next_evaluation += every
        if steps >= total_steps:
            break
    algo.stop()
    return rows


def measure_learning(seeds: list[int], total_steps: int, every: int) -> dict[str, Any]:
    import pandas as pd

    rows = []
    for seed in seeds:
        for transition_replay in (True, False):
            rows += learning_curve(transition_replay, seed, total_steps, every)
            write_atomically(RESULTS / "update_speed_learning.parquet", pd.DataFrame(rows).to_parquet)
    return summarize_learning(pd.DataFrame(rows), seeds, total_steps)


def summarize_learning(frame, seeds: list[int], total_steps: int) -> dict[str, Any]:
    """Final return (last evaluation of each run) and mean return over all evaluations, per path."""
    last = frame.sort_values("env_steps").groupby(["path", "seed"]).tail(1)
    controller = mean_return(run_episodes(TASK, LaneFollowingController(), episodes=EVALUATION_EPISODES, seed=EVALUATION_SEED, frame_size=None))
    per_path = lambda values: {path: round(float(value), 2) for path, value in values.items()}  # noqa: E731
    return {
        "seeds": seeds,
        "env_steps": total_steps,
        "final_return_per_seed": {
            path: [round(float(value), 2) for value in group.sort_values("seed").return_mean]
            for path, group in last.groupby("path")
        },
        "final_return_mean": per_path(last.groupby("path").return_mean.mean()),
        "final_return_std": per_path(last.groupby("path").return_mean.std()),
        "mean_return_over_evaluations": per_path(frame.groupby("path").return_mean.mean()),
        "wall_s_mean": per_path(last.groupby("path").wall_s.mean()),
        "lane_follower_return": round(float(controller), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts", default="costs,throughput", help="comma-separated: costs, throughput, learning, learning-summary"
    )
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--throughput-steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--learning-steps", type=int, default=10_000)
    parser.add_argument("--evaluate-every", type=int, default=2000)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "update_speed.json"
    report = json.loads(out.read_text()) if out.exists() else {}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    parts = set(args.parts.split(","))
    if "costs" in parts:
        report["costs"] = {q: measure_costs(q, args.repeats) for q in ("concat_mlp", "multi_stream")}
        print(json.dumps(report["costs"], indent=1))
    if "throughput" in parts:
        report["throughput"] = measure_throughput(args.throughput_steps)
        print(json.dumps(report["throughput"], indent=1))
    if "learning" in parts:
        report["learning"] = measure_learning(args.seeds, args.learning_steps, args.evaluate_every)
        print(json.dumps(report["learning"], indent=1))
    if "learning-summary" in parts:  # re-summarise saved curves without training again
        import pandas as pd

        frame = pd.read_parquet(RESULTS / "update_speed_learning.parquet")
        report["learning"] = summarize_learning(frame, sorted(frame.seed.unique().tolist()), args.learning_steps)
        print(json.dumps(report["learning"], indent=1))
    write_json_atomically(out, report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
