"""Frame stacks are real pictures of the road: not blank, moving, and different from track to track."""

from __future__ import annotations

import numpy as np
import pytest

from fast_rllib.tasks import make_task_env
from fast_rllib.tasks.controller import LaneFollowingController
from fast_rllib.tasks.frames import STACK_LENGTH, FrameCapture, preprocess_frame


def _stack_after_driving(task_id: str, steps: int = 12, frame_size: int = 64, seed: int = 0) -> np.ndarray:
    env = FrameCapture(make_task_env(task_id, config={"other_vehicles": 0}), frame_size)
    controller = LaneFollowingController()
    observation, _ = env.reset(seed=seed)
    for step in range(steps):
        if step == steps - STACK_LENGTH:
            env.start_capture()
        observation, _, terminated, truncated, _ = env.step(controller(observation))
        assert not (terminated or truncated)
    stack = env.frame_stack()
    env.close()
    return stack


@pytest.fixture(scope="module")
def racetrack_stack() -> np.ndarray:
    return _stack_after_driving("fast/racetrack-v0")


def test_stack_shape_and_dtype(racetrack_stack: np.ndarray) -> None:
    assert racetrack_stack.shape == (STACK_LENGTH, 64, 64)
    assert racetrack_stack.dtype == np.uint8


def test_frames_are_not_blank(racetrack_stack: np.ndarray) -> None:
    for frame in racetrack_stack:
        assert frame.std() > 1.0
        assert int(frame.max()) - int(frame.min()) > 50


def test_consecutive_frames_differ_while_driving(racetrack_stack: np.ndarray) -> None:
    for older, newer in zip(racetrack_stack[:-1], racetrack_stack[1:]):
        assert np.abs(older.astype(np.int16) - newer).mean() > 0.2


def test_stacks_of_different_tracks_differ(racetrack_stack: np.ndarray) -> None:
    for other_task in ("fast/racetrack-oval-v0", "fast/indiana-v0", "fast/complex-v0"):
        other = _stack_after_driving(other_task)
        assert np.abs(racetrack_stack.astype(np.int16) - other).mean() > 1.0, other_task


def test_nothing_is_rendered_unless_frames_are_asked_for() -> None:
    env = FrameCapture(make_task_env("fast/racetrack-v0"))
    env.reset(seed=0)
    for _ in range(3):
        env.step(env.action_space.sample())
    assert env.unwrapped.viewer is None
    env.close()


def test_a_reset_starts_a_new_stack() -> None:
    env = FrameCapture(make_task_env("fast/racetrack-v0"), 32, capturing=True)
    env.reset(seed=0)
    for _ in range(3):
        env.step(env.action_space.sample())
    assert env.frame_stack().shape == (STACK_LENGTH, 32, 32)
    env.reset(seed=1)
    with pytest.raises(RuntimeError, match="only 1 of 4 consecutive frames"):
        env.frame_stack()
    env.close()


def test_preprocess_rejects_frames_of_the_wrong_shape_or_dtype() -> None:
    with pytest.raises(ValueError, match=r"shape \(600, 600\) dtype uint8"):
        preprocess_frame(np.zeros((600, 600), np.uint8))
    with pytest.raises(ValueError, match=r"dtype float32"):
        preprocess_frame(np.zeros((600, 600, 3), np.float32))
    with pytest.raises(ValueError, match=r"frame_size=8 must be an integer >= 16"):
        preprocess_frame(np.zeros((600, 600, 3), np.uint8), frame_size=8)


def test_preprocess_keeps_the_grey_level() -> None:
    rgb = np.full((600, 600, 3), 100, np.uint8)
    assert (preprocess_frame(rgb, 96) == 100).all()
