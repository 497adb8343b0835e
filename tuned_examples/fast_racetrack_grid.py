"""A Ray Tune grid over FAST's candidate threshold and interval K on the held-out "Indiana" oval, for a cluster.

    rllib train file tuned_examples/fast_racetrack_grid.py --ray-address auto

Everything else is ``fast_racetrack.py``'s (read from that file, so the two cannot drift apart). Nine
trials (3 x 3: the paper's K values, and the default rule's candidate ratio, its counterpart of the
paper's Θ, around its default 0.5; for the paper's rule grid over ``similarity_threshold`` with
``selection_rule="paper"`` instead) share one similarity service actor: its name is derived from the
similarity settings, which do not vary here. Each trial needs 2 CPUs (its Algorithm and one EnvRunner);
the service asks for a fraction of a GPU when the cluster has one.
"""

import sys
from pathlib import Path

from ray import tune

from fast_rllib.commands.rllib_cli import load_tuned_example

tuned_config, stop = load_tuned_example(Path(__file__).with_name("fast_racetrack.py"))
config = tuned_config.training(
    similarity_interval=tune.grid_search([100, 1000, 5000]),
    candidate_ratio=tune.grid_search([0.3, 0.5, 0.7]),
)

if __name__ == "__main__":
    from fast_rllib.commands.rllib_cli import main

    main(["train", "file", __file__, *sys.argv[1:]])
