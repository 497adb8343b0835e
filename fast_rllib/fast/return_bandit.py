"""FAST's default selection rule: similarity proposes, the target's returns decide.

Likeness is not transferability: the most similar sources can be the weakest drivers of a new track.
This rule treats the target policy and every candidate source as arms of a bandit whose reward is the
return of the episodes each drove *on the target task*:

- **Candidates** are the sources whose score is in the top part of this decision's score range:
  ``(score - lowest) / (highest - lowest) >= candidate_ratio``. A ratio, not an absolute level, because
  the scores' level depends on how well the learner drives when its frames are captured (an untrained
  learner's frames score lower than a lane follower's), while their order changes much less.
- **Trials in score order**: a candidate with fewer than ``min_episodes_to_compare`` episodes of its own
  is tried next, most similar first (the scores are the prior). With ``end_trials_when_measured`` a trial
  (and the target's first measurement) ends as soon as the behaviour has those episodes, and the rule
  chooses again among the same candidates: a candidate that leaves the road ends its episodes, and its
  trial, within a few env steps instead of spending the round, so a poor first candidate costs little.
- **Upper confidence, discounted**: once every candidate has been tried, the arm (target or candidate) with
  the highest ``mean + exploration * spread * sqrt(2 ln N / n)`` drives until the next decision. Counts
  ``n`` and return sums are discounted by ``ARM_MEMORY`` at every decision (discounted UCB, Garivier and
  Moulines 2011), because the target keeps improving: an arm that has not driven for a while loses
  weight and earns a larger bonus, so the target is measured again from time to time without a fixed
  probe schedule. ``N`` is the sum of the discounted counts and ``spread`` the range of the arms' means
  (the bonus is on the returns' scale). An untried target is measured right after the candidates.
- **Probes**: every ``probe_every``-th decision the target drives whatever the bandit says. A learner
  that never acts learns only from another policy's data and cannot correct its own mistakes (measured:
  the paper's rule, a source driving 98-99 % of the env steps, ended far below SAC); the probes give it
  its own experience and keep its return measured for the retirement rule.
- **Retirement**: a source whose mean return falls below the target's own (both measured over at least
  ``min_episodes_to_compare`` episodes) is retired for good. This one rule is both the negative-transfer
  guard (a look-alike that drives badly) and the hand-back (the target has caught up with its teacher).

Every env step counts against the budget whoever drives, and all of it goes to the replay buffer.
"""

from __future__ import annotations

import math
from typing import Mapping

from fast_rllib.fast.selection import TARGET, Decision, Scores, SelectionSettings, SelectionState, Selector

# Per-decision discount of each arm's episode count and return sum: about the last 10 decisions
# (10 x K env steps) carry the weight.
ARM_MEMORY = 0.9


def relative_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """Each score's position in this decision's range: 0 for the lowest, 1 for the highest (all 1 when
    every score is equal)."""
    low, high = min(scores.values()), max(scores.values())
    return {name: 1.0 if high == low else (score - low) / (high - low) for name, score in scores.items()}


def candidate_order(scores: Mapping[str, float], candidate_ratio: float) -> list[str]:
    """The sources whose relative score reaches ``candidate_ratio``, most similar first: the order in
    which the rule tries them."""
    if not scores:
        return []
    relative = relative_scores(scores)
    # isclose: a score exactly at the ratio can land an ulp below it, (0.3 - 0.1) / 0.4 < 0.5 for one.
    reaches = {name: value >= candidate_ratio or math.isclose(value, candidate_ratio) for name, value in relative.items()}
    return sorted((name for name in scores if reaches[name]), key=lambda name: -scores[name])


class ReturnBandit(Selector):
    """The rule above, on the same state and experience records as the paper's :class:`Selector`."""

    def record_episode(self, behaviour: str, episode_return: float) -> None:
        super().record_episode(behaviour, episode_return)
        count, total = self.state.arm_stats.get(behaviour, (0.0, 0.0))
        self.state.arm_stats[behaviour] = [count + 1.0, total + float(episode_return)]

    def forget(self, behaviour: str) -> None:
        super().forget(behaviour)
        self.state.arm_stats.pop(behaviour, None)

    def decide(self, scores: Scores, likeness: Scores = None, target_needed: str | None = None) -> Decision:
        state, settings = self.state, self.settings
        state.decisions += 1
        state.arm_stats = {arm: [count * ARM_MEMORY, total * ARM_MEMORY] for arm, (count, total) in state.arm_stats.items()}
        if scores is None:
            return self._become(TARGET, "similarity service unavailable")
        state.scores = {name: float(score) for name, score in scores.items()}
        self._retire_worse_than_target()
        if target_needed:
            return self._become(TARGET, target_needed)
        floor_scores = state.scores if likeness is None else {name: float(score) for name, score in likeness.items()}
        candidates = state.candidates = self.candidates(state.scores, floor_scores)
        if not candidates:
            return self._become(TARGET, self._why_no_candidate(floor_scores))
        if state.decisions % settings.probe_every == 0:
            return self._become(TARGET, f"probe: the target drives every {settings.probe_every}th decision")
        return self._trial_or_upper_confidence(candidates)

    def trial_measured(self) -> bool:
        """With ``end_trials_when_measured``: the behaviour on trial has ``min_episodes_to_compare`` episodes."""
        state = self.state
        return (
            self.settings.end_trials_when_measured
            and state.on_trial
            and self._episodes(state.behaviour) >= self.settings.min_episodes_to_compare
        )

    def end_of_trial(self, target_needed: str | None = None) -> Decision | None:
        """Once :meth:`trial_measured`, the behaviour for the rest of the round, chosen among the last
        decision's candidates as a decision would (``target_needed`` as in :meth:`decide`); else None."""
        state = self.state
        if not self.trial_measured():
            return None
        self._retire_worse_than_target()
        if target_needed:
            return self._become(TARGET, target_needed)
        candidates = [name for name in state.candidates if name not in state.retired]
        if not candidates:
            return self._become(TARGET, "no candidate source left after the trial: every one is retired")
        return self._trial_or_upper_confidence(candidates)

    def _trial_or_upper_confidence(self, candidates: list[str]) -> Decision:
        """The next untried candidate, else the target until measured, else the upper-confidence arm."""
        untried = [name for name in candidates if self._episodes(name) < self.settings.min_episodes_to_compare]
        if untried:
            name = untried[0]
            return self._become(
                name, f"trying {name!r} (score {self.state.scores[name]:.3f}), the most similar untried candidate", trial=True
            )
        if self._episodes(TARGET) < self.settings.min_episodes_to_compare:
            return self._become(TARGET, "measuring the target's own return", trial=True)
        return self._upper_confidence([TARGET, *candidates])

    def candidates(self, scores: Mapping[str, float], likeness: Mapping[str, float] | None = None) -> list[str]:
        """Non-retired sources in the top ``candidate_ratio`` of this decision's score range whose likeness
        (``scores`` when not given) reaches the floor Θ (when set), best first."""
        floor, likeness = self.settings.threshold, scores if likeness is None else likeness
        return [
            name
            for name in candidate_order(scores, self.settings.candidate_ratio)
            if name not in self.state.retired and (floor is None or likeness[name] >= floor)
        ]

    def _why_no_candidate(self, scores: Mapping[str, float]) -> str:
        floor = self.settings.threshold
        active = {name: score for name, score in scores.items() if name not in self.state.retired}
        if floor is not None and active and max(active.values()) < floor:
            best = max(active, key=active.get)
            return f"no candidate source: the best active one, {best!r}, scores {active[best]:.3f} < threshold {floor}"
        return "no candidate source: every source is retired"

    def _upper_confidence(self, arms: list[str]) -> Decision:
        stats = {arm: self.state.arm_stats[arm] for arm in arms}
        means = {arm: total / count for arm, (count, total) in stats.items()}
        total_count = sum(count for count, _ in stats.values())
        spread = max(means.values()) - min(means.values())

        def bound(arm: str) -> float:
            return means[arm] + self.settings.exploration * spread * math.sqrt(2 * math.log(total_count) / stats[arm][0])

        best = max(arms, key=bound)
        return self._become(
            best, f"upper confidence: {best!r} discounted mean return {means[best]:.1f}, bound {bound(best):.1f}"
        )

    def _discounted_mean(self, behaviour: str) -> float | None:
        """The arm's discounted mean return, once it has driven ``min_episodes_to_compare`` episodes."""
        if self._episodes(behaviour) < self.settings.min_episodes_to_compare:
            return None
        count, total = self.state.arm_stats[behaviour]
        return total / count

    def _retire_worse_than_target(self) -> None:
        target_return = self._discounted_mean(TARGET)
        if target_return is None:
            return
        for name in list(self.state.arm_stats):
            source_return = self._discounted_mean(name)
            if name != TARGET and name not in self.state.retired and source_return is not None and source_return < target_return:
                self.state.retired[name] = (
                    f"its episodes return {source_return:.2f} < the target's own {target_return:.2f}"
                )

    def _episodes(self, behaviour: str) -> int:
        return len(self._recent.get(behaviour, ()))


def build_selector(settings: SelectionSettings, state: SelectionState | None = None) -> Selector:
    """The selection rule the settings name, on a fresh or a restored state."""
    return (ReturnBandit if settings.rule == "bandit" else Selector)(settings, state)
