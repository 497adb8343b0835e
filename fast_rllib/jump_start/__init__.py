"""Jump-Start RL: a guide policy drives the start of every episode, for a horizon that shrinks in stages."""

from fast_rllib.jump_start.algorithm import JumpStart
from fast_rllib.jump_start.config import JumpStartConfig

__all__ = ["JumpStart", "JumpStartConfig"]
