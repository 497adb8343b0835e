"""The target policy evaluated alone, the transfer benchmark's way, also from inside a Tune trial.

The benchmark protocol judges a run by its target policy alone, deterministic, on fixed episodes, against
the lane follower on the same episodes. ``benchmarks/transfer.py`` does this between ``train()`` calls of
its own loop; a Tune sweep has no such loop, so :func:`evaluate_target_every` gives RLlib an
``on_train_result`` callback that adds the same evaluation to the trial's results, where a report can read
it from Tune's result directory (``benchmarks/grid_report.py``).
"""

from __future__ import annotations

from typing import Any, Callable

from fast_rllib.build.evaluation import mean_return, module_policy, run_episodes

# The transfer benchmark's evaluation episodes (episode i reset with seed EVALUATION_SEED + i): the lane
# follower's bar in benchmarks/results/transfer/*/lane_follower.json was measured on them.
EVALUATION_SEED = 3000
# Where the callback puts its figure in a trial's results.
RESULT_KEY = "target_evaluation"


def target_policy_return(algorithm: Any, episodes: int, seed: int = EVALUATION_SEED) -> float:
    """Mean return of the learner's target policy alone on ``algorithm``'s task, on the default task
    settings (as the lane follower's bar is measured) in the run's action mode, whoever drives the
    EnvRunners at the moment."""
    from ray.rllib.core import DEFAULT_MODULE_ID

    # The learner's module: the EnvRunners' may hold a source's weights while one drives (RLlib's
    # Algorithm has no public accessor for a local learner's module).
    module = algorithm.learner_group._learner.module[DEFAULT_MODULE_ID]
    action_mode = algorithm.config.env_config.get("action_mode", "steering")
    records = run_episodes(
        algorithm.config.env, module_policy(module), episodes=episodes, seed=seed, frame_size=None, action_mode=action_mode
    )
    return mean_return(records)


def evaluate_target_every(iterations: int, episodes: int) -> Callable[..., None]:
    """An RLlib ``on_train_result`` callback: every ``iterations``-th training iteration, the result gains
    ``target_evaluation/return_mean`` (``episodes`` episodes from EVALUATION_SEED)."""
    for name, value in (("iterations", iterations), ("episodes", episodes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"evaluate_target_every: {name}={value!r} must be an integer >= 1")

    def on_train_result(*, algorithm: Any, result: dict, **kwargs: Any) -> None:
        if result["training_iteration"] % iterations == 0:
            result[RESULT_KEY] = {"return_mean": target_policy_return(algorithm, episodes), "episodes": episodes}

    return on_train_result
