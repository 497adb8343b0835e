"""Frame capture: the visual half of a task's embedding.

FAST compares tasks by what they look like: a stack of the last 4 consecutive frames, grayscale, resized
to a small square. Sources (cached in the repository) and targets (captured while training) must go
through exactly the same preprocessing, so both use :func:`preprocess_frame` and :class:`FrameStack`.
Frames are uint8 in 0..255 everywhere; the autoencoder is the only place that scales them to [0, 1].
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, SupportsFloat

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_FRAME_SIZE = 96
STACK_LENGTH = 4
# ITU-R BT.601 luma, the usual RGB -> gray weights.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
MIN_FRAME_SIZE = 16
# highway-env's default view: 600 px at 5.5 px/m, about 109 m across, centred on the ego.
FIELD_OF_VIEW_M = 600 / 5.5
# Lane lines are drawn 1 px wide whatever the resolution: rendering at 2x the frame size, not at 600 px,
# keeps them at high contrast after the area-averaged resize (and renders faster than at 600 px).
SUPERSAMPLING = 2


def check_frame_size(frame_size: int) -> None:
    if not isinstance(frame_size, int) or frame_size < MIN_FRAME_SIZE:
        raise ValueError(f"frame_size={frame_size!r} must be an integer >= {MIN_FRAME_SIZE} (pixels)")


def preprocess_frame(rgb: np.ndarray, frame_size: int = DEFAULT_FRAME_SIZE) -> np.ndarray:
    """RGB (H, W, 3) uint8 -> grayscale (frame_size, frame_size) uint8, area-averaged.

    Area averaging keeps thin lane markings visible at low resolution, where nearest-neighbour
    sampling would drop them at random.
    """
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise ValueError(
            f"expected an RGB frame of shape (H, W, 3) and dtype uint8, got shape {rgb.shape} dtype {rgb.dtype}"
        )
    check_frame_size(frame_size)
    gray = rgb.astype(np.float32) @ _LUMA
    resized = F.interpolate(torch.from_numpy(gray)[None, None], size=(frame_size, frame_size), mode="area")
    return resized[0, 0].round().clamp_(0, 255).to(torch.uint8).numpy()


class FrameStack:
    """The last ``STACK_LENGTH`` preprocessed frames of one episode."""

    def __init__(self, frame_size: int = DEFAULT_FRAME_SIZE) -> None:
        check_frame_size(frame_size)
        self.frame_size = frame_size
        self._frames: deque[np.ndarray] = deque(maxlen=STACK_LENGTH)

    def clear(self) -> None:
        self._frames.clear()

    def push_rgb(self, rgb: np.ndarray) -> None:
        self._frames.append(preprocess_frame(rgb, self.frame_size))

    @property
    def full(self) -> bool:
        return len(self._frames) == STACK_LENGTH

    def stack(self) -> np.ndarray:
        """(4, H, W) uint8, oldest frame first."""
        if not self.full:
            raise RuntimeError(
                f"only {len(self._frames)} of {STACK_LENGTH} consecutive frames captured so far; "
                "step the environment further before asking for a stack"
            )
        return np.stack(self._frames)


class FrameCapture(gym.Wrapper):
    """Renders and stacks frames only while capture is on, so training that needs none pays nothing.

    A stack always holds consecutive frames of one episode: a reset clears it (the paper's released code
    mixed frames of parallel environments; we do not).
    """

    def __init__(
        self,
        env: gym.Env,
        frame_size: int = DEFAULT_FRAME_SIZE,
        frame_function: Callable[[gym.Env], np.ndarray] | None = None,
        capturing: bool = False,
    ) -> None:
        super().__init__(env)
        if frame_function is None and env.render_mode != "rgb_array":
            raise ValueError(
                f"FrameCapture needs render_mode='rgb_array' or a frame_function, got render_mode={env.render_mode!r}"
            )
        self.frames = FrameStack(frame_size)
        self.capturing = capturing
        self._frame_function = frame_function
        self._highway_env = isinstance(getattr(env.unwrapped, "config", None), dict) and "screen_width" in env.unwrapped.config
        if self._highway_env:
            render_size = SUPERSAMPLING * frame_size
            env.unwrapped.config.update(
                screen_width=render_size, screen_height=render_size, scaling=render_size / FIELD_OF_VIEW_M
            )

    def start_capture(self) -> None:
        """Begin a fresh stack from the current state onward."""
        self.frames.clear()
        self.capturing = True
        self._capture()

    def stop_capture(self) -> None:
        self.capturing = False

    def frame_stack(self) -> np.ndarray:
        return self.frames.stack()

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        self.frames.clear()
        if self.capturing:
            self._capture()
        return observation, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        if self.capturing:
            self._capture()
        return observation, reward, terminated, truncated, info

    def _capture(self) -> None:
        self.frames.push_rgb(self.env.render() if self._frame_function is None else self._frame_function(self.env))
        if self._highway_env:
            # highway-env renders every intermediate simulation step after a render() call; we only want
            # one frame per decision, so switch that off (it would triple the rendering cost).
            self.env.unwrapped.enable_auto_render = False


def check_target_frames(env: gym.Env, frame_function: Callable[[gym.Env], np.ndarray] | None) -> None:
    """Render one frame the way FAST will capture it, so that a target whose frames are unusable fails
    before training, saying which function returned what."""
    env.reset(seed=0)
    frame = env.render() if frame_function is None else frame_function(env)
    source = "env.render()" if frame_function is None else "frame_function(env)"
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
        got = f"shape {frame.shape} dtype {frame.dtype}" if isinstance(frame, np.ndarray) else repr(type(frame).__name__)
        raise ValueError(f"frames: {source} returned {got}; FAST needs an RGB frame, an (H, W, 3) uint8 array")


def check_frame_stacks(stacks: object, frame_size: int | None = None, what: str = "frame stacks") -> None:
    """Reject anything but a non-empty uint8 (N, 4, S, S) array, naming the shape and dtype received.

    Checked here, before the autoencoder, so that a caller learns which task's frames were wrong and
    what the expected resolution is, not just that a convolution failed.
    """
    if not isinstance(stacks, np.ndarray):
        raise TypeError(f"{what} must be a numpy array, got {type(stacks).__name__}")
    expected = f"(N >= 1, {STACK_LENGTH}, {frame_size or 'H'}, {frame_size or 'W'}) uint8"
    if stacks.dtype != np.uint8 or stacks.ndim != 4 or stacks.shape[1] != STACK_LENGTH or not len(stacks):
        raise ValueError(f"{what} must be {expected}, got shape {stacks.shape} dtype {stacks.dtype}")
    if frame_size is not None and stacks.shape[2:] != (frame_size, frame_size):
        raise ValueError(
            f"{what} must be {expected}, got shape {stacks.shape}: the autoencoder was built for "
            f"{frame_size}x{frame_size} frames"
        )
