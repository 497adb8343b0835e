"""Rewards computed from the steering a discrete action applied, not from the action's index.

highway-env's rewards penalise the action itself (the racetrack's ``0.3 * |action|``, our driving tasks'
``|steering|``). With ``DiscreteAction`` the env receives an index into a grid of continuous actions, and the
stock reward would penalise the index: steering hard left would be free and hard right the most expensive.
:class:`AppliedActionReward` hands the reward the continuous action the vehicle applied instead, which
``DiscreteAction`` records as ``last_action``; continuous actions reach the reward unchanged. Env classes
whose reward is highway-env's take the mixin; those with a reward of their own call :func:`applied_action`.
"""

from __future__ import annotations

from typing import Any

from highway_env.envs.common.action import DiscreteAction


def applied_action(env: Any, action: Any) -> Any:
    """The continuous action behind ``action`` of a highway-env ``env``: the action itself unless it is a
    ``DiscreteAction`` index."""
    if isinstance(env.action_type, DiscreteAction):
        return env.action_type.last_action
    return action


class AppliedActionReward:
    """Mixin for a highway-env ``AbstractEnv`` subclass whose ``_rewards`` is highway-env's."""

    def _rewards(self, action: Any) -> dict[str, float]:
        return super()._rewards(applied_action(self, action))
