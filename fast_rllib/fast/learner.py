"""SAC's learner plus the pull toward the driving source: the teacher's actions become the student's lessons.

Off-policy SAC fed a good driver's transitions learns its critic first and only then an actor that follows
the critic's gradient; the driver's actions are labels that SAC's loss never uses. This learner adds, to
the actor's loss, a regression of the target's mean action onto the frozen source's mean action on every
replayed observation, including the ones the target itself drove, so that the source labels the target's
own states (DAgger, Kickstarting) rather than only its own:

    actor loss = SAC's actor loss + weight * coefficient * max(1, mean |Q|) * mean ||a_target - a_source||^2

- ``a`` is the tanh-squashed mean action, in the policy's own [-1, 1] units, so the term does not depend on
  the action space's bounds.
- ``max(1, mean |Q|)`` (the batch's detached Q values of the target's actions) puts the imitation on the
  scale of the critic term, as TD3+BC does, so one ``coefficient`` holds from the first updates, where Q is
  near zero, to the last, where it is in the tens.
- ``weight`` is set from outside, by the algorithm, from what was measured on the target
  (:mod:`fast_rllib.fast.distillation`): it falls to zero once the target drives as well as its teacher, and
  is zero for a source that drives worse.
- with ``distillation_q_filter``, only the observations on which the target's own critic values the
  teacher's mean action above the target's count (the Q-filter of Nair et al. 2018): a teacher that drives
  below the bar is imitated where it is better and left behind where it is not, so it does not hold the
  student at its level. Not during the imitation phase (:meth:`FASTSACTorchLearner.set_imitation_phase`):
  there the critic is learning from nothing, cannot judge the teacher yet, and would filter at random.
  With ``distillation_q_filter_soft`` the observations the critic rejects still count with the measured
  ``weight``: a young critic cannot overrule what the returns measured (a teacher that drives far better),
  and as the target catches up (weight near 0) the filter acts in full.

- with ``distillation_spread``, the gap also counts the squared difference of the two policies'
  log standard deviations (both clamped as RLlib's squashed Gaussian clamps them), so that the student
  samples about as widely as its teacher: its own exploring episodes, the ones that measure it for the
  weight and that it learns from, then drive like its mean action does (Kickstarting and QDagger distil
  the whole distribution; the mean alone leaves the student's spread to SAC's entropy term).

With no teacher, or a weight of zero, the loss and the random streams are exactly SAC's. The teacher (its
name, inference weights and weight) is held by :class:`fast_rllib.fast.teacher.TeacherHolder`, part of the
learner's state, so it survives checkpoints.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from ray.rllib.algorithms.sac.sac import SACConfig
from ray.rllib.algorithms.sac.torch.sac_torch_learner import SACTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import POLICY_LOSS_KEY
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.utils.numpy import MAX_LOG_NN_OUTPUT, MIN_LOG_NN_OUTPUT
from ray.rllib.utils.typing import ModuleID, TensorType

from fast_rllib.fast.teacher import TeacherHolder


class FASTSACTorchLearner(TeacherHolder, SACTorchLearner):
    """``SACTorchLearner`` whose actor also imitates a frozen teacher policy (see the module docstring)."""

    # The loss ----------------------------------------------------------------------------------------

    def _compute_loss_for_module_continuous(
        self, *, module_id: ModuleID, config: SACConfig, batch: dict[str, Any], fwd_out: dict[str, TensorType]
    ) -> TensorType:
        total_loss = super()._compute_loss_for_module_continuous(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
        )
        if not self.pulls():
            return total_loss
        q_filter = config.distillation_q_filter and not self._imitation_phase
        rejected_weight = self._distillation_weight if config.distillation_q_filter_soft else 0.0
        imitated, gap = self._imitation_loss(
            self._module[module_id], batch, fwd_out, q_filter, rejected_weight, spread=config.distillation_spread
        )
        q_scale = torch.clamp(torch.mean(torch.abs(fwd_out["q_curr"])).detach(), min=1.0)
        pull = self._distillation_weight * config.distillation_coefficient * q_scale * gap
        self._temp_losses[(module_id, POLICY_LOSS_KEY)] = self._temp_losses[(module_id, POLICY_LOSS_KEY)] + pull
        self._log_distillation(module_id, gap, imitated)
        return total_loss + pull

    def _imitation_loss(
        self,
        module: RLModule,
        batch: Mapping[str, Any],
        fwd_out: Mapping[str, TensorType],
        q_filter: bool,
        rejected_weight: float = 0.0,
        spread: bool = False,
    ) -> tuple[TensorType, TensorType]:
        """(share of observations where the teacher's action is preferred, mean squared distance between the
        student's and the teacher's squashed mean actions, plus with ``spread`` their log standard
        deviations', over the batch, scaled by ``rejected_weight`` where the Q-filter rejects the teacher's
        action)."""
        observations = batch[Columns.OBS]
        student_inputs = fwd_out[Columns.ACTION_DIST_INPUTS]
        with torch.no_grad():
            teacher_inputs = self._teacher.forward_inference({Columns.OBS: observations})[Columns.ACTION_DIST_INPUTS]
        gap = torch.sum((_squashed_mean(student_inputs) - _squashed_mean(teacher_inputs)) ** 2, dim=-1)
        if spread:
            gap = gap + torch.sum((_clamped_log_std(student_inputs) - _clamped_log_std(teacher_inputs)) ** 2, dim=-1)
        if not q_filter:
            return torch.ones((), device=gap.device), torch.mean(gap)
        with torch.no_grad():
            teacher_q = _q_of_mean_action(module, observations, teacher_inputs)
            student_q = _q_of_mean_action(module, observations, student_inputs.detach())
            better = (teacher_q > student_q).float()
        return torch.mean(better), torch.mean((better + (1.0 - better) * rejected_weight) * gap)


def _q_of_mean_action(module: RLModule, observations: TensorType, action_dist_inputs: TensorType) -> TensorType:
    """The module's critic (the lower of its twins) at the distribution's mean action, in the action
    space's bounds as the critic saw actions in training."""
    low = torch.as_tensor(module.action_space.low, dtype=observations.dtype, device=observations.device)
    high = torch.as_tensor(module.action_space.high, dtype=observations.dtype, device=observations.device)
    actions = low + (_squashed_mean(action_dist_inputs) + 1.0) / 2.0 * (high - low)
    return module.compute_q_values({Columns.OBS: observations, Columns.ACTIONS: actions})


def _squashed_mean(action_dist_inputs: TensorType) -> TensorType:
    """The tanh of a squashed Gaussian's mean (the first half of its distribution inputs)."""
    mean, _log_std = torch.chunk(action_dist_inputs, 2, dim=-1)
    return torch.tanh(mean)


def _clamped_log_std(action_dist_inputs: TensorType) -> TensorType:
    """A squashed Gaussian's log standard deviation (the second half of its distribution inputs), clamped as
    RLlib's ``TorchSquashedGaussian.from_logits`` clamps it before sampling."""
    _mean, log_std = torch.chunk(action_dist_inputs, 2, dim=-1)
    return torch.clamp(log_std, MIN_LOG_NN_OUTPUT, MAX_LOG_NN_OUTPUT)
