"""fast-rllib: FAST (similarity-based policy transfer) as a Ray RLlib plugin."""

from fast_rllib.tasks import register_tasks

register_tasks()

__version__ = "0.1.0"
