"""The observation and action spec that every task in the catalogue shares.

FAST lets any frozen source policy drive any target task, which is only possible when every task
exposes exactly the same observation and action spaces. This module is the single place that defines
them; the task classes never build their own.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

KINEMATICS_FEATURES: tuple[str, ...] = (
    "presence",
    "x",
    "y",
    "vx",
    "vy",
    "heading",
    "long_off",
    "lat_off",
    "ang_off",
)
VEHICLES_COUNT = 5
OBSERVATION_SIZE = VEHICLES_COUNT * len(KINEMATICS_FEATURES)

ActionMode = Literal["steering", "acceleration_steering", "discrete_steering"]
ACTION_MODES: tuple[str, ...] = get_args(ActionMode)
# Steering angles of the discrete mode, evenly spread over highway-env's +-45 degrees (action i steers
# -45 + 90 * i / (n - 1) degrees). Chosen on the catalogue's racing tracks that are not held out
# (benchmarks/discrete_steering.py, benchmarks/results/discrete_steering.json): the fewest angles with
# which the lane follower, rounded to the nearest angle, keeps 97 % of its continuous return on every track.
DISCRETE_STEERING_ACTIONS = 9

SIMULATION_FREQUENCY_HZ = 15
POLICY_FREQUENCY_HZ = 5
# 30 s at 5 Hz is 150 decisions: long enough for most of a lap, short enough that SAC sees many
# episode ends (crashes and truncations) within a ten-thousand-step budget.
DEFAULT_DURATION_S = 30.0


def check_action_mode(action_mode: str) -> None:
    if action_mode not in ACTION_MODES:
        raise ValueError(
            f"action_mode={action_mode!r} is not supported; allowed values: {', '.join(ACTION_MODES)}"
        )


def observation_config() -> dict[str, Any]:
    """Kinematics of the ego and its 4 nearest vehicles, relative to the ego.

    The lane-offset features (long_off, lat_off, ang_off) are what make tracks learnable from
    Kinematics; they are meaningful on any highway-env lane, so non-racing tasks carry them too.
    """
    return {
        "type": "Kinematics",
        "vehicles_count": VEHICLES_COUNT,
        "features": list(KINEMATICS_FEATURES),
        "absolute": False,
        "normalize": True,
        "clip": True,
    }


def action_config(action_mode: ActionMode = "steering") -> dict[str, Any]:
    """A continuous action: steering alone at the lane's speed, or [acceleration, steering]; or, for
    discrete-action algorithms (DQN), one of :data:`DISCRETE_STEERING_ACTIONS` steering angles.

    Returned whole on purpose: highway-env's ``configure()`` replaces nested dicts instead of merging
    them, so a partial action dict would silently change the action's dimension.
    """
    check_action_mode(action_mode)
    if action_mode == "discrete_steering":
        return {
            "type": "DiscreteAction",
            "longitudinal": False,
            "lateral": True,
            "actions_per_axis": DISCRETE_STEERING_ACTIONS,
            "target_speeds": [0, 5, 10],
        }
    return {
        "type": "ContinuousAction",
        "longitudinal": action_mode == "acceleration_steering",
        "lateral": True,
        "target_speeds": [0, 5, 10],
    }


def shared_config(action_mode: ActionMode = "steering", duration_s: float = DEFAULT_DURATION_S) -> dict[str, Any]:
    """The part of a highway-env config that is identical for every task."""
    if not duration_s > 0:
        raise ValueError(f"duration_s={duration_s!r} must be a positive number of seconds")
    return {
        "observation": observation_config(),
        "action": action_config(action_mode),
        "simulation_frequency": SIMULATION_FREQUENCY_HZ,
        "policy_frequency": POLICY_FREQUENCY_HZ,
        "duration": duration_s,
        "offscreen_rendering": True,
    }
