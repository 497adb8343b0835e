"""A Ray Tune grid over FAST's Θ (``similarity_threshold``) and K (``similarity_interval``), for a cluster.

    rllib train file tuned_examples/fast_racetrack_grid.py --ray-address auto --storage-path ~/fast_grid
    python benchmarks/grid_report.py ~/fast_grid/<experiment> --out benchmarks/results/theta_k_grid

Everything else is ``fast_racetrack.py``'s (read from that file, so the two cannot drift apart): FAST's
default rule on the held-out "Indiana" oval. Held-out targets are for measuring only, and this study
changes no default. 18 trials: the paper's K values (100, 1,000, 5,000) x three Θ, which under the default
rule is a floor a source's FT score must reach to be a candidate (0.2 keeps out what looks least like a
track, 0.6 only the closest look-alikes), x 2 seeds, 16,000 env steps each. Every 2nd iteration (about
2,000 env steps) the trial evaluates its target policy alone on the transfer benchmark's 10 fixed episodes
(``target_evaluation/return_mean``), which the report turns into env steps to 80 % of the lane follower.

The trials share one similarity service actor (its name is derived from the similarity settings, which do
not vary here), which batches their concurrent queries. Each trial needs 2 CPUs (its Algorithm and one
EnvRunner); the service asks for a fraction of a GPU when the cluster has one.
"""

import sys
from pathlib import Path

from ray import tune

from fast_rllib.build.target_evaluation import evaluate_target_every
from fast_rllib.commands.rllib_cli import load_tuned_example

THETAS = [0.2, 0.4, 0.6]
INTERVALS = [100, 1000, 5000]
SEEDS = [0, 1]

tuned_config, _ = load_tuned_example(Path(__file__).with_name("fast_racetrack.py"))
config = (
    tuned_config.training(
        similarity_interval=tune.grid_search(INTERVALS),
        similarity_threshold=tune.grid_search(THETAS),
    )
    .debugging(seed=tune.grid_search(SEEDS))
    .callbacks(on_train_result=evaluate_target_every(iterations=2, episodes=10))
)

stop = {"num_env_steps_sampled_lifetime": 16_000}

if __name__ == "__main__":
    from fast_rllib.commands.rllib_cli import main

    main(["train", "file", __file__, *sys.argv[1:]])
