"""fast-rllib: FAST (similarity-based policy transfer) as a Ray RLlib plugin.

Importing the package registers every task id with Gymnasium and with Tune, so that
``config.environment("fast/racetrack-v0")`` works on the driver and on remote EnvRunners alike, and
registers the ``"FAST"``, ``"FASTDQN"`` and ``"JumpStart"`` trainables for Tune.
"""

from ray import tune

from fast_rllib.tasks import register_tasks
from fast_rllib.tasks.rllib_env import again_after_every_ray_init, register_rllib_envs

register_tasks()
register_rllib_envs()

from fast_rllib.fast import FAST, FASTDQN, FASTConfig, FASTDQNConfig  # noqa: E402  (the algorithm imports the catalogue)
from fast_rllib.jump_start import JumpStart, JumpStartConfig  # noqa: E402
from fast_rllib.repository import SourceRepository  # noqa: E402
from fast_rllib.tasks.registration import RacingTrack, register_target, register_track  # noqa: E402
from fast_rllib.training import TransitionDQN, TransitionDQNConfig, TransitionSAC, TransitionSACConfig  # noqa: E402


def register_trainables() -> None:
    """"FAST", "FASTDQN" and "JumpStart" for Tune, now and after every later ``ray.init`` of this process (Tune keeps
    them in the cluster's key-value store, like env creators: see ``register_rllib_envs``)."""
    tune.register_trainable("FAST", FAST)
    tune.register_trainable("FASTDQN", FASTDQN)
    tune.register_trainable("JumpStart", JumpStart)
    again_after_every_ray_init(register_trainables)


register_trainables()

__all__ = [
    "FAST",
    "FASTConfig",
    "FASTDQN",
    "FASTDQNConfig",
    "JumpStart",
    "JumpStartConfig",
    "RacingTrack",
    "SourceRepository",
    "TransitionDQN",
    "TransitionDQNConfig",
    "TransitionSAC",
    "TransitionSACConfig",
    "register_target",
    "register_track",
]
__version__ = "0.1.0"
