"""Capturing the target's frames on an EnvRunner, without stopping it.

Functions here run inside an EnvRunner (through ``foreach_env_runner``), so they are plain module-level
functions that pickle by reference. Capture is switched on in the first env of the runner's vector env;
it renders only from then until a full stack of 4 consecutive frames has been taken, so sampling between
similarity decisions never renders.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from fast_rllib.tasks.frames import FrameCapture


def _frame_capture(env_runner) -> FrameCapture:
    env: gym.Env = env_runner.env.unwrapped.envs[0]
    while not isinstance(env, FrameCapture):
        if not hasattr(env, "env"):
            raise RuntimeError(
                "the EnvRunner's env has no FrameCapture wrapper: FAST needs a catalogue task id as env "
                "(its creator adds frame capture when env_config has 'frame_size')"
            )
        env = env.env
    return env


def start_capture(env_runner) -> None:
    _frame_capture(env_runner).start_capture()


def take_stack(env_runner) -> np.ndarray | None:
    """The (4, H, W) uint8 stack once 4 consecutive frames are in, capture then off; None until then."""
    capture = _frame_capture(env_runner)
    if not capture.frames.full:
        return None
    capture.stop_capture()
    return capture.frame_stack()
