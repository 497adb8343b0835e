"""The pull's part of FAST's training step: which teacher and weight the learner gets, and the imitation phase.

A mixin of :class:`fast_rllib.fast.algorithm.FASTTraining`, which calls it at three points of its step: at
a decision (whether the target must drive, for a release of the pull or to be measured after the imitation
phase; the round the target drove), after it (the learner follows the pull the returns call for) and before
the update (QDagger's imitation phase, once). The rules themselves, free of Ray, are
:mod:`fast_rllib.fast.distillation`'s.
"""

from __future__ import annotations

import logging

import ray

from fast_rllib.fast.config import FASTSettings
from fast_rllib.fast.distillation import NO_PULL, DroveUnder, Pull, choose_pull, released_pull
from fast_rllib.fast.selection import TARGET, Selector

logger = logging.getLogger(__name__)


class PullSteps:
    """The teacher and weight FAST's learner imitates with, and what the release remembers."""

    config: FASTSettings
    selector: Selector
    _pull: Pull
    _drove_under: DroveUnder
    _pretrained: bool

    def _measured_pull(self) -> Pull:
        """The teacher and weight the returns measured so far call for (none without distillation), released
        no faster than ``distillation_release_step`` per round the target drove."""
        if not self.config.distillation:
            return NO_PULL
        measured = choose_pull(self.selector, self.config.distillation_target_episodes)
        return released_pull(measured, self._drove_under, self.config.distillation_release_step)

    def _target_drove_a_round(self) -> None:
        """The round ending at this decision was the target's, under the pull in force: its episodes
        measured it so."""
        if self._pull.teacher is not None:
            self._drove_under = DroveUnder(self._pull.teacher, self._pull.weight)

    def _target_round_needed(self) -> str | None:
        """Why the target must drive the next round (None: it need not): the pull is held above what was
        measured, and only a round the target drives under it can measure the weaker pull; or, with
        ``distillation_measure_after_imitation``, the imitation phase has run and the target has not been
        measured since."""
        pull = self._measured_pull()
        if pull.held:
            return f"confirming the release: {pull.reason}"
        if self._measuring_after_imitation():
            return "measuring the target after the imitation phase"
        return None

    def _measuring_after_imitation(self) -> bool:
        return (
            self.config.distillation_measure_after_imitation
            and self._pretrained
            and self.selector.mean_return(TARGET) is None
        )

    def _follow_measured_pull(self) -> None:
        """Give the learner the teacher and weight that the returns measured so far call for (without
        distillation the measured pull stays NO_PULL, so the learner is never called)."""
        pull = self._measured_pull()
        if pull.teacher != self._pull.teacher:
            teacher, weight = pull.teacher, pull.weight
            state = None if teacher is None else ray.get(self._source_states[teacher])
            self.learner_group.foreach_learner(lambda learner: learner.set_teacher(teacher, state, weight))
            logger.info("FAST distillation: teacher %s, weight %.2f (%s)", teacher, weight, pull.reason)
        elif pull.weight != self._pull.weight:
            weight = pull.weight
            self.learner_group.foreach_learner(lambda learner: learner.set_distillation_weight(weight))
        self._pull = pull

    def _pretrain_if_due(self) -> bool:
        """QDagger's offline phase, once: extra updates on the data so far as soon as learning can start
        with a teacher that pulls; True if they ran."""
        updates = self.config.distillation_pretrain_updates
        if self._pretrained or not updates or self._pull.weight <= 0 or not self.learning_started():
            return False
        self.learner_group.foreach_learner(lambda learner: learner.set_imitation_phase(True))
        for _ in range(updates):
            self.update_once()
        self.learner_group.foreach_learner(lambda learner: learner.set_imitation_phase(False))
        self._pretrained = True
        self.metrics.log_value(("fast", "distillation", "pretrain_updates"), updates, window=1)
        if self.config.distillation_measure_after_imitation:
            # Its episodes so far were driven by the policy the phase replaced.
            self.selector.forget(TARGET)
            logger.info("FAST distillation: the target's episodes before the imitation phase no longer measure it")
        return True
