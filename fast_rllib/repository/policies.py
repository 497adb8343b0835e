"""The policy part of a source: which weights an EnvRunner needs, the inference-only copy that is stored,
and the checks that a stored policy is the one that was trained and fits the target's network."""

from __future__ import annotations

from typing import Any, Mapping

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.algorithms.dqn.dqn_learner import QF_PREDS
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec

# Observations on which a stored module must reproduce the original's actions.
_VERIFICATION_OBSERVATIONS = 32


def policy_shapes(state: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape: what must match for a source's weights to load into a target's EnvRunner."""
    return {key: tuple(np.shape(value)) for key, value in state.items() if key != "weights_seq_no"}


def shape_difference(stored: Mapping[str, Any], reference: Mapping[str, Any], label: str) -> str | None:
    stored_shapes, reference_shapes = policy_shapes(stored), policy_shapes(reference)
    if stored_shapes == reference_shapes:
        return None
    problems = []
    missing = sorted(set(reference_shapes) - set(stored_shapes))
    extra = sorted(set(stored_shapes) - set(reference_shapes))
    if missing:
        problems.append(f"missing tensors {missing[:4]}{' ...' if len(missing) > 4 else ''}")
    if extra:
        problems.append(f"extra tensors {extra[:4]}{' ...' if len(extra) > 4 else ''}")
    for key in sorted(set(stored_shapes) & set(reference_shapes)):
        if stored_shapes[key] != reference_shapes[key]:
            problems.append(f"{key} has shape {stored_shapes[key]}, expected {reference_shapes[key]}")
    return f"policy network shapes differ from {label}: " + "; ".join(problems[:6])


def inference_state_of(module: RLModule) -> dict[str, np.ndarray]:
    """The policy weights an EnvRunner needs, as numpy, without the EnvRunner's ``weights_seq_no``
    (a state without it is always applied; see the RLlib notes on the sequence-number trap)."""
    state = module.get_state(inference_only=True)
    return {key: np.asarray(value) for key, value in state.items() if key != "weights_seq_no"}


def inference_only_copy(module: RLModule) -> RLModule | None:
    """The module rebuilt from its spec with ``inference_only=True`` and the policy weights copied in.

    None when the module class has no inference-only form (then the full module must be stored).
    """
    module = module.unwrapped()
    if module.inference_only:
        return module
    if not isinstance(module, InferenceOnlyAPI):
        return None
    spec = RLModuleSpec.from_module(module)
    spec.inference_only = True
    copy = spec.build()
    copy.set_state(module.get_state(inference_only=True))
    return copy


def action_inputs(module: RLModule, observation_space: gym.Space) -> torch.Tensor:
    """What the module's actions follow from, on fixed random observations of the space: its action
    distribution inputs, or for a module that picks its own actions (DQN) its Q values. Entries store
    frames, not observations, so every check of a stored policy drives it on the same seeded batch."""
    rng = np.random.default_rng(0)
    observations = rng.standard_normal((_VERIFICATION_OBSERVATIONS, *observation_space.shape))
    batch = {Columns.OBS: torch.as_tensor(observations.astype(observation_space.dtype))}
    with torch.no_grad():
        output = module.forward_inference(batch)
        if Columns.ACTION_DIST_INPUTS in output:
            return output[Columns.ACTION_DIST_INPUTS].cpu()
        return module.compute_q_values(batch)[QF_PREDS].cpu()


def actions_match(original: RLModule, stored: RLModule, observation_space: gym.Space) -> bool:
    """Same action inputs on random observations: the stored module is the same policy."""
    expected, actual = action_inputs(original, observation_space), action_inputs(stored, observation_space)
    return torch.allclose(expected, actual, rtol=0.0, atol=1e-6)
