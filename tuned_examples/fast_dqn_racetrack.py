"""FAST on DQN, for discrete actions: the held-out "Indiana" oval steered with 9 discrete angles, drawing on
the discrete source repository shipped with fast-rllib (DQN sources on the tasks' discrete-steering variant).

    rllib train file tuned_examples/fast_dqn_racetrack.py
    python tuned_examples/fast_dqn_racetrack.py --stop '{"num_env_steps_sampled_lifetime": 2000}'

DQN settings are the shared ones (``racing_dqn_config``: the SAC runs' networks, replay ratio and
EnvRunners, RLlib's DQN defaults otherwise); FAST's keys are the same as on SAC and keep their defaults,
except that a discrete source drives greedily and distillation teaches the Q network the source's actions
(a large-margin loss; SAC's Q-filter has no counterpart). Watch the same ``fast/*`` metrics.
"""

import sys

from fast_rllib import FASTDQNConfig
from fast_rllib.training.settings import racing_dqn_config

TARGET = "fast/indiana-v0"

config = racing_dqn_config(TARGET, config=FASTDQNConfig()).training(
    similarity_interval=1000,
    modality="FT",
    selection_rule="bandit",
    distillation=True,
    distillation_pretrain_updates=1000,
)

stop = {"num_env_steps_sampled_lifetime": 20_000}

if __name__ == "__main__":
    from fast_rllib.commands.rllib_cli import main

    main(["train", "file", __file__, *sys.argv[1:]])
