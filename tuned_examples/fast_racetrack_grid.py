"""A Ray Tune grid over FAST's threshold Θ and interval K on the held-out "Indiana" oval, for a cluster.

    rllib train file tuned_examples/fast_racetrack_grid.py --ray-address auto

Nine trials (3 Θ x 3 K: the paper's K values, and Θ around the energy metric's default of 0.2; its scores
lie in [0, 1]), with the rules of ``fast_racetrack.py``, share one similarity service actor: its name is
derived from the similarity settings, which do not vary here. Each trial needs 2 CPUs (its Algorithm and
one EnvRunner); the service asks for a fraction of a GPU when the cluster has one.
"""

import sys

from ray import tune

from fast_rllib import FASTConfig
from fast_rllib.training.settings import racing_sac_config

TARGET = "fast/indiana-v0"

config = racing_sac_config(TARGET, config=FASTConfig()).training(
    similarity_interval=tune.grid_search([100, 1000, 5000]),
    similarity_threshold=tune.grid_search([0.1, 0.2, 0.3]),
    modality="FT",
    similarity_metric="energy",
    hand_back=True,
)

stop = {"num_env_steps_sampled_lifetime": 20_000}

if __name__ == "__main__":
    from fast_rllib.rllib_command import main

    main(["train", "file", __file__, *sys.argv[1:]])
