"""The frozen teacher a FAST learner imitates: which source, its weights, the measured weight of the pull.

Algorithm-independent: SAC's learner (:mod:`fast_rllib.fast.learner`) and DQN's (:mod:`fast_rllib.fast.dqn_learner`)
take this mixin and add only their loss term. The algorithm sets the teacher and its weight from what was
measured on the target (:mod:`fast_rllib.fast.distillation`); the teacher is part of the learner's
checkpoint state, so a restored run keeps imitating the same source.
"""

from __future__ import annotations

from typing import Any, Collection, Mapping

import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec

DISTILLATION_STATE = "fast_distillation"
DISTILLATION_LOSS_KEY = "distillation_loss"
DISTILLATION_WEIGHT_KEY = "distillation_weight"
DISTILLATION_IMITATED_KEY = "distillation_imitated_share"


class TeacherHolder:
    """Mixin for an RLlib ``Learner``: holds the teacher (an inference-only copy of the target's module with
    the source's weights) and its weight, set by the algorithm through ``foreach_learner``."""

    def build(self) -> None:
        super().build()
        self._teacher_name: str | None = None
        self._teacher_state: dict[str, Any] | None = None
        self._teacher: RLModule | None = None
        self._distillation_weight = 0.0
        self._imitation_phase = False

    # Set by the algorithm ----------------------------------------------------------------------------

    def set_teacher(self, name: str | None, state: Mapping[str, Any] | None, weight: float) -> None:
        """Imitate the policy with inference weights ``state`` (``name`` None: imitate nothing)."""
        if name is None or state is None:
            self._teacher_name, self._teacher_state, self._teacher = None, None, None
        elif name != self._teacher_name:
            self._teacher_name, self._teacher_state = name, dict(state)
            self._teacher = self._build_teacher(self._teacher_state)
        self._distillation_weight = float(weight) if self._teacher is not None else 0.0

    def set_distillation_weight(self, weight: float) -> None:
        """A new weight for the current teacher (ignored without one)."""
        self._distillation_weight = float(weight) if self._teacher is not None else 0.0

    def set_imitation_phase(self, on: bool) -> None:
        """While on, the teacher is imitated on every observation, whatever a filter would say."""
        self._imitation_phase = bool(on)

    @property
    def teacher_name(self) -> str | None:
        return self._teacher_name

    @property
    def distillation_weight(self) -> float:
        return self._distillation_weight

    def pulls(self) -> bool:
        """A teacher is set and its weight is above zero: the loss gets an imitation term."""
        return self._teacher is not None and self._distillation_weight > 0.0

    def _build_teacher(self, state: Mapping[str, Any]) -> RLModule:
        """An inference-only copy of the target's module holding the teacher's weights.

        Built without consuming torch's random stream, so that choosing a teacher does not change the
        target's own training randomness.
        """
        spec = RLModuleSpec.from_module(self.module[DEFAULT_MODULE_ID].unwrapped())
        spec.inference_only = True
        with torch.random.fork_rng(devices=[]):
            teacher = spec.build()
        teacher.set_state(dict(state))
        teacher.eval()
        for parameter in teacher.parameters():
            parameter.requires_grad_(False)
        return teacher.to(self._device) if self._device is not None else teacher

    def _log_distillation(self, module_id: str, loss: torch.Tensor, imitated: torch.Tensor) -> None:
        self.metrics.log_dict(
            {
                DISTILLATION_LOSS_KEY: loss,
                DISTILLATION_WEIGHT_KEY: self._distillation_weight,
                DISTILLATION_IMITATED_KEY: imitated,
            },
            key=module_id,
            window=1,
        )

    # Checkpoints -------------------------------------------------------------------------------------

    def get_state(
        self,
        components: str | Collection[str] | None = None,
        *,
        not_components: str | Collection[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component(DISTILLATION_STATE, components, not_components):
            state[DISTILLATION_STATE] = {
                "teacher": self._teacher_name,
                "teacher_state": self._teacher_state,
                "weight": self._distillation_weight,
            }
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        if DISTILLATION_STATE in state:
            saved = state[DISTILLATION_STATE]
            self.set_teacher(saved["teacher"], saved["teacher_state"], saved["weight"])
