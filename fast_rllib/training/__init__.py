"""Training-loop speed: SAC on RLlib's module and learner, with a transition-level replay path."""

from fast_rllib.training.transition_sac import TransitionSAC, TransitionSACConfig

__all__ = ["TransitionSAC", "TransitionSACConfig"]
