"""FAST on the held-out "Indiana" oval, drawing on the source repository shipped with fast-rllib.

    rllib train file tuned_examples/fast_racetrack.py
    python tuned_examples/fast_racetrack.py --stop '{"num_env_steps_sampled_lifetime": 2000}'

SAC settings are exactly those of ``sac_racetrack.py`` (SAC from scratch), so the two runs compare FAST's
transfer and nothing else. One rule beyond the paper is on: ``hand_back`` retires a source once the
target's own return reaches the source's: without it the most similar source drives almost every env
step and the target learns little on this track (README, "Results": the quick transfer profile,
benchmarks/results/transfer/quick/table.md). Watch ``fast/following_source``, ``fast/score/*`` and
``fast/episode_return/*`` in TensorBoard or the Ray dashboard.
"""

import sys

from fast_rllib import FASTConfig
from fast_rllib.training.settings import racing_sac_config

TARGET = "fast/indiana-v0"

config = racing_sac_config(TARGET, config=FASTConfig()).training(
    similarity_interval=1000,
    similarity_threshold=0.4,
    modality="FT",
    similarity_metric="nearest_cosine",
    hand_back=True,
)

stop = {"num_env_steps_sampled_lifetime": 20_000}

if __name__ == "__main__":
    from fast_rllib.commands.rllib_cli import main

    main(["train", "file", __file__, *sys.argv[1:]])
