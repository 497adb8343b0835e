"""fast-rllib: FAST (similarity-based policy transfer) as a Ray RLlib plugin.

Importing the package registers every task id with Gymnasium and with Tune, so that
``config.environment("fast/racetrack-v0")`` works on the driver and on remote EnvRunners alike.
"""

from fast_rllib.tasks import register_tasks
from fast_rllib.tasks.rllib_env import register_rllib_envs

register_tasks()
register_rllib_envs()

__version__ = "0.1.0"
