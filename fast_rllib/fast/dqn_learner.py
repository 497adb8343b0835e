"""DQN's learner plus the pull toward the driving source, for discrete actions.

A discrete source's lesson is which action it takes. The target's Q network learns it through the
large-margin loss of Deep Q-learning from Demonstrations (Hester et al. 2018), added to DQN's TD loss on
every replayed observation, the target's own included:

    loss = DQN's loss + weight * coefficient * mean( max_a [Q(s, a) + margin * (a != a_teacher)] - Q(s, a_teacher) )

It is zero once the teacher's greedy action is valued at least ``margin`` above every other action, so it
shapes the ranking of the Q values without pulling them away from the TD targets; it is already on the
Q values' scale. ``a_teacher`` is the frozen source's greedy action (its own Q network, run on the batch).
``weight`` follows the returns measured on the target, as for SAC (:mod:`fast_rllib.fast.distillation`).
SAC's Q-filter has no counterpart here: the target's critic always prefers its own greedy action.
With no teacher, or a weight of zero, the loss and the random streams are exactly DQN's.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.dqn.dqn import DQNConfig
from ray.rllib.algorithms.dqn.dqn_learner import QF_PREDS
from ray.rllib.algorithms.dqn.torch.dqn_torch_learner import DQNTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.utils.typing import ModuleID, TensorType

from fast_rllib.fast.teacher import TeacherHolder

# DQfD's margin (Hester et al. 2018), on Q values of returns in [0, 1] per step like ours.
MARGIN = 0.8


class FASTDQNTorchLearner(TeacherHolder, DQNTorchLearner):
    """``DQNTorchLearner`` whose Q network also learns a frozen teacher's actions (see the module docstring)."""

    def compute_loss_for_module(
        self, *, module_id: ModuleID, config: DQNConfig, batch: dict[str, Any], fwd_out: dict[str, TensorType]
    ) -> TensorType:
        total_loss = super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        if not self.pulls():
            return total_loss
        with torch.no_grad():
            teacher_actions = self._teacher.forward_inference({Columns.OBS: batch[Columns.OBS]})[Columns.ACTIONS]
        margin_loss, agreement = large_margin_loss(fwd_out[QF_PREDS], teacher_actions.long())
        self._log_distillation(module_id, margin_loss, agreement)
        return total_loss + self._distillation_weight * config.distillation_coefficient * margin_loss


def large_margin_loss(q_values: TensorType, teacher_actions: TensorType) -> tuple[TensorType, TensorType]:
    """(DQfD's margin loss, the share of observations where the greedy action already is the teacher's)."""
    margins = MARGIN * (1.0 - torch.nn.functional.one_hot(teacher_actions, q_values.shape[-1]).to(q_values.dtype))
    teacher_q = torch.gather(q_values, -1, teacher_actions.unsqueeze(-1)).squeeze(-1)
    loss = torch.mean(torch.max(q_values + margins, dim=-1).values - teacher_q)
    agreement = torch.mean((torch.argmax(q_values, dim=-1) == teacher_actions).to(q_values.dtype)).detach()
    return loss, agreement
