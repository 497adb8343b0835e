"""FAST on the held-out "Indiana" oval, drawing on the source repository shipped with fast-rllib.

    rllib train file tuned_examples/fast_racetrack.py
    python tuned_examples/fast_racetrack.py --stop '{"num_env_steps_sampled_lifetime": 2000}'

SAC settings are exactly those of ``sac_racetrack.py`` (SAC from scratch), so the two runs compare FAST's
transfer and nothing else. FAST's keys are its defaults, spelled out: every K = 1,000 env steps the
similarity scores propose candidate sources and the returns each behaviour earns on the track decide who
drives (``selection_rule="bandit"``; ``"paper"`` is the paper's threshold rule). The target also learns
from the source measured to drive it best (``distillation``): an imitation term in the actor's loss whose
weight follows the measured returns, after a one-off imitation phase when the first teacher is measured.
Watch ``fast/drives/*``, ``fast/score/*``, ``fast/episode_return/*`` and ``fast/distillation/*`` on the
console ("pull <teacher> <weight>"), in TensorBoard or the Ray dashboard.
"""

import sys

from fast_rllib import FASTConfig
from fast_rllib.training.settings import racing_sac_config

TARGET = "fast/indiana-v0"

config = racing_sac_config(TARGET, config=FASTConfig()).training(
    similarity_interval=1000,
    modality="FT",
    similarity_metric="nearest_cosine",
    selection_rule="bandit",
    candidate_ratio=0.5,
    distillation=True,
    distillation_coefficient=1.0,
    distillation_pretrain_updates=1000,
    distillation_q_filter=True,
)

stop = {"num_env_steps_sampled_lifetime": 20_000}

if __name__ == "__main__":
    from fast_rllib.commands.rllib_cli import main

    main(["train", "file", __file__, *sys.argv[1:]])
