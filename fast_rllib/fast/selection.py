"""FAST's decision logic, free of Ray and RLlib: which policy drives the EnvRunners until the next decision.

Every K sampled env steps the algorithm hands a selector the similarity scores (or None when the
similarity service failed) and gets back a behaviour: the target policy or one source. This module holds
the selection state, the experience records every rule uses, and the paper's rule
(``selection_rule="paper"``); FAST's default rule, which lets returns decide, is
:mod:`fast_rllib.fast.return_bandit`. The paper's rule: the best-scoring source drives if its score
reaches the threshold Θ, else the target does. Three options go beyond it, each off unless asked for:

- **hysteresis** (``hysteresis > 0``): the active source keeps driving while its score stays within
  ``hysteresis`` below Θ, and another source takes over only if it beats the active one by more than
  ``hysteresis``. Small K re-scores often, and noisy scores otherwise make the behaviour thrash.
- **negative-transfer guard**: once a source has driven ``min_episodes_to_compare`` episodes, it is retired for good
  if their mean return is below the target policy's own recent mean return. A source can look similar and
  still drive badly on the target.
- **hand-back**: a source is retired once the target's own recent mean return reaches ``hand_back_ratio``
  times the source's. Following a source forever caps the target at the source's level (Jump-Start RL
  shrinks its guide horizon for the same reason).

For ablations, ``source_choice="random"`` keeps FAST's schedule (a source drives exactly when the best
score reaches Θ) but hands control to a source drawn at random among the eligible ones: it separates the
value of *which* source from the value of following *some* source.

Both comparison rules need the target's own returns while a source is in charge, so when either is on
every ``probe_every``-th decision that would select a source lets the target drive instead (a probe).
Episode returns are attributed to the behaviour that drove most of the episode's steps.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, get_args

TARGET = "target"
SourceChoice = Literal["best", "random"]
SOURCE_CHOICES: tuple[str, ...] = get_args(SourceChoice)
# "bandit": FAST's default, :mod:`fast_rllib.fast.return_bandit`; "paper": the rule of this module.
SelectionRule = Literal["bandit", "paper"]
SELECTION_RULES: tuple[str, ...] = get_args(SelectionRule)
# Each source's score at a decision (None: the similarity service could not answer).
Scores = Mapping[str, float] | None


@dataclass(frozen=True)
class SelectionSettings:
    # Θ. The paper's rule needs one: the best source drives when it reaches Θ. Under the default rule it is
    # optional, a floor a source's score must reach to be a candidate at all (None: no floor).
    threshold: float | None
    rule: SelectionRule = "paper"
    candidate_ratio: float = 0.5
    exploration: float = 0.5
    hysteresis: float = 0.0
    negative_transfer_guard: bool = False
    hand_back: bool = False
    hand_back_ratio: float = 1.0
    min_episodes_to_compare: int = 4
    return_window: int = 20
    probe_every: int = 4
    source_choice: SourceChoice = "best"
    seed: int = 0
    # Default rule: a behaviour driving to be measured hands over once it has min_episodes_to_compare
    # episodes, instead of at the next decision (see return_bandit).
    end_trials_when_measured: bool = False

    def __post_init__(self) -> None:
        if self.rule not in SELECTION_RULES:
            raise ValueError(f"selection_rule={self.rule!r} is not supported; allowed values: {', '.join(SELECTION_RULES)}")
        if self.threshold is None and self.rule == "paper":
            raise ValueError("selection_rule='paper' needs similarity_threshold (Θ): the score the best source must reach to drive")
        if self.threshold is not None and (isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float))):
            raise ValueError(f"similarity_threshold={self.threshold!r} must be a number or None")
        if not 0 <= self.candidate_ratio <= 1:
            raise ValueError(f"candidate_ratio={self.candidate_ratio!r} must be within [0, 1]")
        if not self.exploration >= 0:
            raise ValueError(f"exploration={self.exploration!r} must be >= 0")
        if self.source_choice not in SOURCE_CHOICES:
            raise ValueError(f"source_choice={self.source_choice!r} is not supported; allowed values: {', '.join(SOURCE_CHOICES)}")
        if self.hysteresis < 0:
            raise ValueError(f"hysteresis={self.hysteresis!r} must be >= 0")
        if self.hand_back_ratio <= 0:
            raise ValueError(f"hand_back_ratio={self.hand_back_ratio!r} must be > 0")
        for name in ("min_episodes_to_compare", "return_window", "probe_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be an integer >= 1")

    @property
    def probes(self) -> bool:
        return self.negative_transfer_guard or self.hand_back


@dataclass(frozen=True)
class Decision:
    behaviour: str
    reason: str
    switched: bool


@dataclass
class SelectionState:
    """Everything the selection remembers; plain data so that it survives checkpoints as a dict."""

    behaviour: str = TARGET
    decisions: int = 0
    switches: int = 0
    source_decisions: int = 0
    scores: dict[str, float] = field(default_factory=dict)
    retired: dict[str, str] = field(default_factory=dict)
    env_steps: dict[str, int] = field(default_factory=dict)
    returns: dict[str, list[float]] = field(default_factory=dict)
    # The default rule's discounted [episode count, return sum] per behaviour (see return_bandit).
    arm_stats: dict[str, list[float]] = field(default_factory=dict)
    # The default rule: whether the behaviour drives to be measured, and the last decision's candidates.
    on_trial: bool = False
    candidates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "behaviour": self.behaviour,
            "decisions": self.decisions,
            "switches": self.switches,
            "source_decisions": self.source_decisions,
            "scores": dict(self.scores),
            "retired": dict(self.retired),
            "env_steps": dict(self.env_steps),
            "returns": {name: list(values) for name, values in self.returns.items()},
            "arm_stats": {name: list(values) for name, values in self.arm_stats.items()},
            "on_trial": self.on_trial,
            "candidates": list(self.candidates),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SelectionState":
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


class Selector:
    """Applies the rules above to a :class:`SelectionState`; all mutation of the state happens here."""

    def __init__(self, settings: SelectionSettings, state: SelectionState | None = None) -> None:
        self.settings = settings
        self.state = state if state is not None else SelectionState()
        self._recent = {
            name: deque(values, maxlen=settings.return_window) for name, values in self.state.returns.items()
        }

    # Experience --------------------------------------------------------------------------------------

    def record_steps(self, behaviour: str, env_steps: int) -> None:
        self.state.env_steps[behaviour] = self.state.env_steps.get(behaviour, 0) + int(env_steps)

    def record_episode(self, behaviour: str, episode_return: float) -> None:
        recent = self._recent.setdefault(behaviour, deque(maxlen=self.settings.return_window))
        recent.append(float(episode_return))
        self.state.returns[behaviour] = list(recent)

    def forget(self, behaviour: str) -> None:
        """Drop the behaviour's kept episode returns: they measured a policy that is gone."""
        self._recent.pop(behaviour, None)
        self.state.returns.pop(behaviour, None)

    def mean_return(self, behaviour: str, latest: int | None = None) -> float | None:
        """The mean of the behaviour's kept episode returns, or of its ``latest`` ones; None until it has
        ``min_episodes_to_compare`` of them."""
        recent = self._recent.get(behaviour)
        if not recent or len(recent) < self.settings.min_episodes_to_compare:
            return None
        kept = list(recent)[-latest:] if latest else recent
        return sum(kept) / len(kept)

    # Decisions ---------------------------------------------------------------------------------------

    def decide(self, scores: Scores, likeness: Scores = None, target_needed: str | None = None) -> Decision:
        """The behaviour until the next decision; ``scores`` is None when the service could not answer.
        ``likeness``: the similarity scores when ``scores`` rank by something else (Θ applies to likeness);
        the paper's rule ranks by likeness itself and ignores it. ``target_needed``: why the caller needs the
        target measured now (it drives, after the decision's bookkeeping); None: the rule decides."""
        state = self.state
        state.decisions += 1
        self._retire_sources()
        if scores is None:
            return self._become(TARGET, "similarity service unavailable")
        state.scores = {name: float(score) for name, score in scores.items()}
        if target_needed:
            return self._become(TARGET, target_needed)
        candidate, reason = self._best_source(state.scores)
        if candidate == TARGET:
            return self._become(TARGET, reason)
        state.source_decisions += 1
        if self.settings.probes and state.source_decisions % self.settings.probe_every == 0:
            return self._become(TARGET, f"probe: the target drives to measure its return instead of {candidate!r}")
        return self._become(candidate, reason)

    def trial_measured(self) -> bool:
        """The paper's rule has no trials: its behaviour holds until the next decision."""
        return False

    def end_of_trial(self, target_needed: str | None = None) -> Decision | None:
        """The paper's rule has no trials (see :meth:`trial_measured`)."""
        return None

    def _best_source(self, scores: Mapping[str, float]) -> tuple[str, str]:
        settings, active = self.settings, self.state.behaviour
        eligible = {name: score for name, score in scores.items() if name not in self.state.retired}
        if not eligible:
            return TARGET, "every source is retired"
        best = max(eligible, key=eligible.get)
        if active in eligible and active != TARGET and settings.hysteresis > 0:
            keeps = eligible[active] >= settings.threshold - settings.hysteresis
            beaten = eligible[best] > eligible[active] + settings.hysteresis
            if keeps and not beaten:
                return active, f"hysteresis keeps {active!r} (score {eligible[active]:.3f})"
        if eligible[best] >= settings.threshold:
            if settings.source_choice == "random":
                # Seeded by the decision number, so a restored run draws the same sources.
                drawn = random.Random(f"{settings.seed}-{self.state.decisions}").choice(sorted(eligible))
                return drawn, f"random source {drawn!r} (best score {eligible[best]:.3f} >= threshold {settings.threshold})"
            return best, f"{best!r} scores {eligible[best]:.3f} >= threshold {settings.threshold}"
        return TARGET, f"best source {best!r} scores {eligible[best]:.3f} < threshold {settings.threshold}"

    def _retire_sources(self) -> None:
        target_return = self.mean_return(TARGET)
        if target_return is None:
            return
        for name in list(self._recent):
            source_return = self.mean_return(name)
            if name == TARGET or name in self.state.retired or source_return is None:
                continue
            if self.settings.negative_transfer_guard and source_return < target_return:
                self.state.retired[name] = (
                    f"negative transfer: its episodes return {source_return:.2f} < the target's {target_return:.2f}"
                )
            elif self.settings.hand_back and target_return >= self.settings.hand_back_ratio * source_return:
                self.state.retired[name] = (
                    f"handed back: the target returns {target_return:.2f} >= "
                    f"{self.settings.hand_back_ratio} x its {source_return:.2f}"
                )

    def _become(self, behaviour: str, reason: str, trial: bool = False) -> Decision:
        self.state.on_trial = trial
        switched = behaviour != self.state.behaviour
        if switched:
            self.state.switches += 1
            self.state.behaviour = behaviour
        return Decision(behaviour, reason, switched)
