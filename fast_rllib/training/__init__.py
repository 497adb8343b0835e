"""Training-loop speed: RLlib's SAC and DQN modules and learners, with a transition-level replay path."""

from fast_rllib.training.transition_dqn import TransitionDQN, TransitionDQNConfig
from fast_rllib.training.transition_sac import TransitionSAC, TransitionSACConfig

__all__ = ["TransitionDQN", "TransitionDQNConfig", "TransitionSAC", "TransitionSACConfig"]
