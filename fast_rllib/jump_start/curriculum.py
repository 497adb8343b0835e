"""Jump-Start RL's curriculum, free of Ray and RLlib: how many steps of each episode the guide drives.

Uchendu et al. (2022) roll in with a guide policy for the first ``h`` steps of every episode and let the
learner act from there; ``h`` starts at a whole episode and shrinks in stages. A stage ends once the
combined policy (guide for ``h`` steps, then the learner) returns at least ``1 - tolerance`` times the
best combined return seen at an earlier stage: the learner has taken over the part the guide gave up
without losing what the guide achieved. The first stage (the guide alone) only measures that reference.

Returns are those of training episodes, attributed to the stage in which the episode started, so no env
step is spent on extra evaluation episodes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


def staged_horizons(episode_steps: int, stages: int) -> tuple[int, ...]:
    """``stages + 1`` roll-in horizons from a whole episode down to 0 in equal steps."""
    if isinstance(episode_steps, bool) or not isinstance(episode_steps, int) or episode_steps < 1:
        raise ValueError(f"episode_steps={episode_steps!r} must be a positive integer (env steps of one episode)")
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise ValueError(f"roll_in_stages={stages!r} must be a positive integer")
    return tuple(round(episode_steps * (stages - stage) / stages) for stage in range(stages + 1))


@dataclass
class RollInCurriculum:
    """The stage the curriculum is at and the returns that decide when it moves on."""

    horizons: tuple[int, ...]
    tolerance: float = 0.05
    episodes_per_check: int = 10
    stage: int = 0
    best_return: float | None = None
    _recent: deque = field(default_factory=deque, repr=False)

    def __post_init__(self) -> None:
        if not self.horizons or any(later > earlier for earlier, later in zip(self.horizons, self.horizons[1:])):
            raise ValueError(f"roll-in horizons {self.horizons!r} must be a non-empty, non-increasing sequence")
        if self.horizons[-1] != 0:
            raise ValueError(f"roll-in horizons {self.horizons!r} must end at 0: the learner ends up driving alone")
        if not 0.0 <= self.tolerance < 1.0:
            raise ValueError(f"stage_tolerance={self.tolerance!r} must be in [0, 1)")
        if self.episodes_per_check < 1:
            raise ValueError(f"stage_episodes={self.episodes_per_check!r} must be a positive integer")
        self._recent = deque(self._recent, maxlen=self.episodes_per_check)

    @property
    def horizon(self) -> int:
        return self.horizons[self.stage]

    @property
    def finished(self) -> bool:
        return self.stage == len(self.horizons) - 1

    def record_episode(self, stage: int, episode_return: float) -> bool:
        """Count one finished episode that started at ``stage``; True when the curriculum moved on."""
        if stage != self.stage or self.finished:
            return False
        self._recent.append(float(episode_return))
        if len(self._recent) < self.episodes_per_check:
            return False
        mean = sum(self._recent) / len(self._recent)
        if self.best_return is not None and mean < (1.0 - self.tolerance) * self.best_return:
            return False
        self.best_return = mean if self.best_return is None else max(self.best_return, mean)
        self.stage += 1
        self._recent.clear()
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "best_return": self.best_return, "recent": list(self._recent)}

    def restored(self, saved: dict[str, Any]) -> "RollInCurriculum":
        """This curriculum's settings with a saved position (from :meth:`to_dict`)."""
        return RollInCurriculum(
            self.horizons, self.tolerance, self.episodes_per_check, saved["stage"], saved["best_return"], deque(saved["recent"])
        )
