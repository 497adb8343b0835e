"""SAC from scratch on the held-out "Indiana" oval: FAST's baseline, with identical SAC settings.

    rllib train file tuned_examples/sac_racetrack.py
"""

import sys

from fast_rllib.training.settings import racing_sac_config

TARGET = "fast/indiana-v0"

config = racing_sac_config(TARGET)

stop = {"num_env_steps_sampled_lifetime": 20_000}

if __name__ == "__main__":
    from fast_rllib.commands.rllib_cli import main

    main(["train", "file", __file__, *sys.argv[1:]])
