"""FAST on DQN end to end, on a tiny repository of DQN sources with one remote EnvRunner.

The same FAST part as on SAC (tests/test_fast_algorithm.py): a chosen discrete source really acts (its
greedy actions are the ones the env receives), FAST that never hands over trains exactly like DQN,
a checkpoint keeps the selection state, and a repository of another action space is refused by name.
"""

from __future__ import annotations

import numpy as np
import pytest
import ray
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from tiny_repository import (
    policy_outputs,
    runner_outputs,
    tiny_dqn_config,
    tiny_fast_config,
    train_until_a_source_drove_a_whole_step,
)

from fast_rllib import FASTDQN
from fast_rllib.fast.dqn_learner import MARGIN, large_margin_loss
from fast_rllib.fast.selection import TARGET
from fast_rllib.repository import SourceRepository

pytestmark = pytest.mark.slow


def _target_module(algo: FASTDQN):
    return algo.learner_group._learner.module[DEFAULT_MODULE_ID]


def _trained_q_network(config, iterations: int = 3) -> tuple[dict[str, torch.Tensor], float]:
    algo = config.build_algo()
    try:
        for _ in range(iterations):
            result = algo.train()
        assert result["learners"][DEFAULT_MODULE_ID]["num_module_steps_trained_lifetime"] > 0
        weights = {key: value.detach().clone() for key, value in _target_module(algo).state_dict().items()}
        return weights, result["num_env_steps_sampled_lifetime"]
    finally:
        algo.stop()


def test_fast_dqn_that_never_hands_over_trains_exactly_like_dqn(discrete_repository, ray_session) -> None:
    dqn_weights, dqn_steps = _trained_q_network(tiny_dqn_config().debugging(seed=7))
    fast_weights, fast_steps = _trained_q_network(
        tiny_fast_config(discrete_repository, algorithm="dqn", similarity_threshold=1.0).debugging(seed=7)
    )
    assert fast_steps == dqn_steps
    for key, value in dqn_weights.items():
        torch.testing.assert_close(fast_weights[key], value, rtol=0, atol=0)


@pytest.fixture(scope="module")
def following(discrete_repository, ray_session):
    """Θ = 0: a DQN source drives from the first decision on."""
    algo = tiny_fast_config(discrete_repository, algorithm="dqn").build_algo()
    result, source = train_until_a_source_drove_a_whole_step(algo, min_steps=2)
    yield algo, result, source
    algo.stop()


def test_the_chosen_source_drives_greedily(following, discrete_repository) -> None:
    """The EnvRunner holds the source's Q network, and the actions the env received are its greedy ones
    (the target's epsilon, 1.0 this early, is no part of a frozen source)."""
    algo, result, source = following
    assert result["fast"]["following_source"] == 1.0 and algo._exploration_of_behaviour() is False
    source_module = SourceRepository.load(discrete_repository)[source].load_module()
    torch.testing.assert_close(runner_outputs(algo)[0][1], policy_outputs(source_module))
    weights = algo._source_weights()
    algo.sample_round(label=source, weights=weights, explore=False)  # sample-ahead: this returns the round in flight
    episodes, label = algo.sample_round(label=source, weights=weights, explore=False)
    assert label == source and episodes
    for episode in episodes:
        observations = torch.as_tensor(np.asarray(episode.get_observations())[:-1])
        with torch.no_grad():
            greedy = source_module.forward_inference({Columns.OBS: observations})[Columns.ACTIONS].numpy()
        np.testing.assert_array_equal(np.asarray(episode.get_actions()), greedy)


def test_checkpoint_restores_the_selection_state(following, tmp_path) -> None:
    algo, _, _ = following
    algo.save_to_path(tmp_path)
    restored = FASTDQN.from_checkpoint(tmp_path)
    try:
        assert restored.selector.state.to_dict() == algo.selector.state.to_dict()
        assert restored.behaviour == algo.behaviour != TARGET
        torch.testing.assert_close(runner_outputs(restored)[0][1], runner_outputs(algo)[0][1])
        restored.train()
        assert restored.selector.state.decisions > algo.selector.state.decisions
    finally:
        restored.stop()


def test_distillation_teaches_the_q_network_the_teachers_actions(following, discrete_repository) -> None:
    """With the source as teacher, updates on the replayed data move the target's greedy actions toward the
    source's: the margin loss falls and agreement rises.

    The Q network first prefers, on every observation, the action the teacher takes least: the shared
    fixture has already trained with this teacher for however many iterations its source needed to
    drive, and a target that already agreed with it would leave the margin loss nothing to halve."""
    algo, _, source = following
    learner = algo.learner_group._learner
    learner.set_teacher(source, ray.get(algo._source_states[source]), 1.0)
    batch = algo.transition_buffer.sample(256)
    observations = torch.as_tensor(batch[Columns.OBS])
    action_count = int(_target_module(algo).action_space.n)
    with torch.no_grad():
        teacher_actions = learner._teacher.forward_inference({Columns.OBS: observations})[Columns.ACTIONS].long()
        least_taught = int(torch.bincount(teacher_actions, minlength=action_count).argmin())
        advantage_output = [layer for layer in _target_module(algo).af.modules() if isinstance(layer, torch.nn.Linear)][-1]
        advantage_output.weight.zero_()
        advantage_output.bias.copy_(torch.nn.functional.one_hot(torch.tensor(least_taught), action_count))

    def loss_and_agreement():
        with torch.no_grad():
            q_values = _target_module(algo).compute_q_values({Columns.OBS: observations})["qf_preds"]
        return large_margin_loss(q_values, teacher_actions)

    loss_before, agreement_before = loss_and_agreement()
    for _ in range(150):
        algo.update_once()
    loss_after, agreement_after = loss_and_agreement()
    assert loss_after < 0.5 * loss_before and agreement_after > agreement_before
    learner.set_teacher(None, None, 0.0)


def test_a_measured_trial_hands_over_within_the_round(discrete_repository, ray_session) -> None:
    """With end_trials_when_measured, one decision (K larger than the run) and every source a candidate, a
    source on trial hands over to the next as soon as its first episode ends: several behaviours drive
    after the only decision. With trials holding the round, only the first candidate would."""
    algo = tiny_fast_config(
        discrete_repository, algorithm="dqn", selection_rule="bandit", similarity_threshold=None, candidate_ratio=0.0,
        similarity_interval=10**6, min_episodes_to_compare=1, end_trials_when_measured=True, distillation=False,
    ).build_algo()
    try:
        for _ in range(12):
            algo.train()
        state = algo.selector.state
        drove = [behaviour for behaviour, steps in state.env_steps.items() if behaviour != TARGET and steps > 0]
        assert state.decisions == 1 and len(drove) >= 2, state.env_steps
    finally:
        algo.stop()


def test_the_large_margin_loss_is_dqfds() -> None:
    q_values = torch.tensor([[1.0, 2.0, 0.5], [3.0, 0.0, 0.0]])
    teacher = torch.tensor([0, 0])
    loss, agreement = large_margin_loss(q_values, teacher)
    # First row: max(1, 2 + m, 0.5 + m) - 1; second: the teacher's action leads by more than the margin.
    torch.testing.assert_close(loss, torch.tensor((1.0 + MARGIN) / 2))
    assert float(agreement) == 0.5


def test_a_repository_of_another_action_space_is_refused_by_name(repository, ray_session) -> None:
    """SAC sources (a Box steering action) for a DQN target (9 discrete steering angles)."""
    with pytest.raises(ValueError, match=r"racetrack-oval-v0.*action_space.*type Box != expected Discrete"):
        tiny_fast_config(repository, algorithm="dqn").validate()


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"distillation_q_filter": True}, "distillation_q_filter=True has no meaning for DQN"),
        ({"distillation_spread": True}, "distillation_spread=True has no meaning for DQN"),
        ({"num_atoms": 5}, "num_atoms=5 with distillation=True"),
        ({"sources_act_greedily": False}, "sources_act_greedily=False has no meaning for DQN"),
    ],
)
def test_dqn_settings_without_meaning_are_named(discrete_repository, training: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny_fast_config(discrete_repository, algorithm="dqn", **training).validate()
