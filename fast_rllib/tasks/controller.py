"""A hand-written lane follower that drives every racing task from the shared 45-value observation.

It is the reference for what "competent" means on a track: tests use it to prove each track can be lapped,
and it is the yardstick for trained source policies.
"""

from __future__ import annotations

import math

import numpy as np

from fast_rllib.tasks.spec import DISCRETE_STEERING_ACTIONS, KINEMATICS_FEATURES, ActionMode, check_action_mode

_LATERAL_OFFSET = KINEMATICS_FEATURES.index("lat_off")
_ANGULAR_OFFSET = KINEMATICS_FEATURES.index("ang_off")
# highway-env's ContinuousAction maps an action of +-1 to a steering angle of +-45 degrees.
_MAX_STEERING = math.pi / 4


class LaneFollowingController:
    """Steer back to the centre of the current lane; never brake or accelerate.

    Control law, from the ego row of the observation (the first 9 values). highway-env does not normalise
    ``lat_off`` (metres, positive when the car is right of the lane centre on screen) or ``ang_off``
    (radians, positive when it points to the right of the lane heading), so both are used as they are::

        steering angle = -(lateral_gain * lat_off + heading_gain * ang_off)

    clipped to +-45 degrees and scaled to the [-1, 1] action. The heading term damps the lateral one so
    the car converges without oscillating at the 5 Hz decision rate; in a bend the car settles slightly
    off its lane centre, where the two offsets together produce the steering the curvature needs.

    The default gains were tuned on every racing task at 10-12 m/s, starting on the lane centre and 1.5 m
    off it at 20 degrees: once settled the car stays within about 0.3 m of the lane centre (a reward of
    about 0.97 per step). Much higher gains oscillate, much lower ones cut or drift wide; these still lap
    the tightest tracks at 6-16 m/s. In the ``acceleration_steering`` mode the acceleration is 0, which
    keeps the lane speed the ego starts at (highway-env's kinematic model has no drag). In the
    ``discrete_steering`` mode it picks the discrete steering angle nearest the control law's: the discrete
    controller that plays the lane follower's role for DQN targets.

    The lane is whichever lane the car is closest to, so the controller keeps the lane it is in and, with
    traffic, simply crashes into slower cars: it follows lanes, it does not race.
    """

    def __init__(
        self, action_mode: ActionMode = "steering", lateral_gain: float = 0.5, heading_gain: float = 1.8
    ) -> None:
        check_action_mode(action_mode)
        self.action_mode = action_mode
        self.lateral_gain = lateral_gain
        self.heading_gain = heading_gain

    def __call__(self, observation: np.ndarray) -> np.ndarray | int:
        observation = np.asarray(observation, dtype=np.float64).reshape(-1)
        steering_angle = -(
            self.lateral_gain * observation[_LATERAL_OFFSET] + self.heading_gain * observation[_ANGULAR_OFFSET]
        )
        steering = float(np.clip(steering_angle / _MAX_STEERING, -1.0, 1.0))
        if self.action_mode == "discrete_steering":
            return nearest_steering_index(steering)
        action = [steering] if self.action_mode == "steering" else [0.0, steering]
        return np.array(action, dtype=np.float32)


def nearest_steering_index(steering: float, angles: int = DISCRETE_STEERING_ACTIONS) -> int:
    """The index of the discrete steering angle nearest ``steering`` (in [-1, 1]) among ``angles`` evenly
    spread over [-1, 1], as the ``discrete_steering`` action mode numbers them."""
    return int(np.rint((steering + 1.0) / 2.0 * (angles - 1)))
