"""The pull toward the driving source: its weight rule, the learner's imitation term, and FAST end to end.

The weight follows what was measured on the target (1 for an untrained target, 0 once the target matches
its teacher, 0 for a retired source); the learner's term moves the target's actions toward the teacher's
and leaves SAC's loss untouched without a teacher; FAST gives the learner the measured teacher, keeps it
through a checkpoint (with no source chosen FAST stays SAC bit for bit, distillation on: test_fast_algorithm.py).
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from tiny_repository import TARGET_TASK, policy_outputs, tiny_fast_config

from fast_rllib import FAST
from fast_rllib.commands.progress import iteration_line
from fast_rllib.fast.distillation import NO_PULL, DroveUnder, Pull, choose_pull, pull_weight, released_pull
from fast_rllib.fast.learner import FASTSACTorchLearner, _clamped_log_std, _q_of_mean_action, _squashed_mean
from fast_rllib.fast.selection import TARGET, SelectionSettings, Selector
from fast_rllib.repository import SourceRepository
from fast_rllib.tasks import make_task_env


# The weight rule ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target", "weight"),
    [
        (100.0, None, 1.0),  # the target has not driven yet: presumed untrained
        (100.0, 0.0, 1.0),
        (100.0, 25.0, 0.75),
        (100.0, 100.0, 0.0),  # caught up
        (100.0, 140.0, 0.0),  # surpassed its teacher
        (50.0, -10.0, 1.0),  # clipped
        (-5.0, -50.0, 1.0),  # negative returns: the source still drives better
        (-50.0, -5.0, 0.0),
        (0.0, -5.0, 0.0),
    ],
)
def test_pull_weight_follows_the_measured_returns(source: float, target: float | None, weight: float) -> None:
    assert pull_weight(source, target) == pytest.approx(weight)


def _selector(returns: dict[str, list[float]], retired: dict[str, str] | None = None) -> Selector:
    selector = Selector(SelectionSettings(threshold=0.5, min_episodes_to_compare=2))
    for behaviour, values in returns.items():
        for value in values:
            selector.record_episode(behaviour, value)
    selector.state.retired.update(retired or {})
    return selector


def test_the_teacher_is_the_best_measured_source_and_unmeasured_ones_are_not_imitated() -> None:
    assert choose_pull(_selector({})) is NO_PULL
    assert choose_pull(_selector({"a": [90.0]})) is NO_PULL  # one episode: not measured yet
    pull = choose_pull(_selector({"a": [80.0, 80.0], "b": [100.0, 100.0], "c": [500.0]}))
    assert (pull.teacher, pull.weight) == ("b", 1.0)
    pull = choose_pull(_selector({"a": [80.0, 80.0], "b": [100.0, 100.0], TARGET: [60.0, 60.0]}))
    assert pull.teacher == "b" and pull.weight == pytest.approx(0.4)
    assert pull.source_weights == pytest.approx({"a": 0.25, "b": 0.4})


def test_a_retired_source_gets_no_pull_and_is_never_the_teacher() -> None:
    pull = choose_pull(_selector({"good": [80.0, 80.0], "bad": [100.0, 100.0], TARGET: [40.0, 40.0]}, {"bad": "worse"}))
    assert pull.teacher == "good" and pull.source_weights["bad"] == 0.0
    pull = choose_pull(_selector({"bad": [100.0, 100.0], TARGET: [40.0, 40.0]}, {"bad": "worse"}))
    assert pull.teacher is None and pull.weight == 0.0 and pull.source_weights == {"bad": 0.0}


def test_the_target_can_be_measured_by_its_latest_episodes_only() -> None:
    """A target that crashed a lot while untrained and now drives like its teacher: over every kept
    episode the old crashes hold the weight up; over its latest episodes it has caught up."""
    returns = {"teacher": [100.0, 100.0], TARGET: [2.0, 3.0, 2.0, 4.0, 5.0, 3.0, 100.0, 104.0]}
    assert choose_pull(_selector(returns)).weight == pytest.approx(1 - 223.0 / 8 / 100)
    assert choose_pull(_selector(returns), target_episodes=2).weight == 0.0
    assert choose_pull(_selector(returns), target_episodes=3).weight == pytest.approx(1 - 207.0 / 3 / 100)
    # Fewer episodes than the selection needs to compare: not measured, whatever the setting.
    assert choose_pull(_selector({"teacher": [100.0, 100.0], TARGET: [100.0]}), target_episodes=1).weight == 1.0


def test_the_release_steps_down_one_driven_round_at_a_time() -> None:
    """A target measured just below its teacher after a round under 0.78: with a step of 0.25 the pull stays
    at 0.53 until the target drives under it; it rises at once, and a new teacher, none, or a teacher the
    target is measured above is not held."""
    caught_up = Pull("chicane", 0.05, "caught up", {"chicane": 0.05})
    held = released_pull(caught_up, DroveUnder("chicane", 0.78), 0.25)
    assert (held.teacher, held.weight) == ("chicane", pytest.approx(0.53)) and "held at 0.53" in held.reason
    assert held.source_weights == {"chicane": 0.05}  # what was measured still shows per source
    surpassed = Pull("chicane", 0.0, "the target returns more", {"chicane": 0.0})
    assert released_pull(surpassed, DroveUnder("chicane", 0.78), 0.25) is surpassed  # never imitate a worse source
    assert held.held and not caught_up.held and not NO_PULL.held
    assert _target_round_needed(held).startswith("confirming the release: ")
    assert _target_round_needed(caught_up) is None
    assert released_pull(caught_up, DroveUnder("chicane", 0.53), 0.25).weight == pytest.approx(0.28)
    assert released_pull(caught_up, DroveUnder("chicane", 0.2), 0.25) is caught_up  # fully released
    assert released_pull(caught_up, DroveUnder(), 0.25).weight == pytest.approx(0.75)  # before the target's first round
    fell_back = Pull("chicane", 0.95, "crashed")
    assert released_pull(fell_back, DroveUnder("chicane", 0.1), 0.25) is fell_back  # rises are never held
    assert released_pull(caught_up, DroveUnder("kidney", 0.9), 0.25) is caught_up  # a new teacher
    assert released_pull(NO_PULL, DroveUnder("chicane", 0.9), 0.25) is NO_PULL  # retired: no teacher
    assert released_pull(caught_up, DroveUnder("chicane", 0.9), None) is caught_up  # the measured weight at once


# The learner's imitation term --------------------------------------------------------------------------


def test_the_squashed_mean_is_the_tanh_of_the_first_half_of_the_distribution_inputs() -> None:
    inputs = torch.tensor([[0.5, -3.0], [-2.0, 1.0]])
    torch.testing.assert_close(_squashed_mean(inputs), torch.tanh(torch.tensor([[0.5], [-2.0]])))


@pytest.fixture(scope="module")
def learner(repository):
    """The FAST learner of the tiny runs, built alone (no Ray), and a source of the tiny repository."""
    return _built_learner(repository)


def _built_learner(repository, **training: object):
    config = tiny_fast_config(repository, **training)
    config.validate()
    sources = SourceRepository.load(repository)
    env = make_task_env(TARGET_TASK)
    module_spec = config.get_multi_rl_module_spec(spaces={DEFAULT_MODULE_ID: (env.observation_space, env.action_space)})
    env.close()
    built = FASTSACTorchLearner(config=config, module_spec=module_spec)
    built.build()
    return built, sources[sources.names[-1]]


def _replay_batch(size: int = 32) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(1)
    observations = rng.standard_normal((size, 45)).astype(np.float32)
    return {
        "obs": torch.from_numpy(observations),
        "new_obs": torch.from_numpy(observations + 0.01),
        "actions": torch.from_numpy(rng.uniform(-1, 1, (size, 1)).astype(np.float32)),
        "rewards": torch.from_numpy(rng.uniform(0, 1, size).astype(np.float32)),
        "terminateds": torch.zeros(size, dtype=torch.bool),
        "truncateds": torch.zeros(size, dtype=torch.bool),
        "n_step": torch.ones(size),
        "weights": torch.ones(size),
    }


def _gap_to(module, source_module) -> float:
    return float(torch.mean((_squashed_mean(policy_outputs(module)) - _squashed_mean(policy_outputs(source_module))) ** 2))


def test_the_imitation_term_moves_the_target_toward_its_teacher(learner) -> None:
    built, source = learner
    module, teacher_module = built.module[DEFAULT_MODULE_ID], source.load_module()
    built.set_teacher(source.name, source.inference_state(), 1.0)
    assert built.teacher_name == source.name and built.distillation_weight == 1.0
    torch.testing.assert_close(policy_outputs(built._teacher), policy_outputs(teacher_module))
    before = _gap_to(module, teacher_module)
    assert before > 0
    for _ in range(60):
        results = built.update(batch=_as_multi_agent(_replay_batch()))
    assert _gap_to(module, teacher_module) < 0.5 * before
    assert results[DEFAULT_MODULE_ID]["distillation_weight"].peek() == 1.0


def _teacher_on_a_batch(built, source, weight: float = 1.0):
    """The learner's module, a replay batch and the module's forward pass on it, with ``source`` as teacher."""
    module = built.module[DEFAULT_MODULE_ID]
    built.set_teacher(source.name, source.inference_state(), weight)
    batch = _replay_batch()
    return module, batch, module.forward_train(batch)


def test_the_q_filter_imitates_only_where_the_critic_prefers_the_teachers_action(learner) -> None:
    built, source = learner
    module, batch, fwd_out = _teacher_on_a_batch(built, source)
    _, unfiltered = built._imitation_loss(module, batch, fwd_out, q_filter=False)
    share, filtered = built._imitation_loss(module, batch, fwd_out, q_filter=True)
    with torch.no_grad():
        teacher_inputs = built._teacher.forward_inference({"obs": batch["obs"]})["action_dist_inputs"]
        better = _q_of_mean_action(module, batch["obs"], teacher_inputs) > _q_of_mean_action(
            module, batch["obs"], fwd_out["action_dist_inputs"]
        )
    gap = torch.sum((_squashed_mean(fwd_out["action_dist_inputs"]) - _squashed_mean(teacher_inputs)) ** 2, dim=-1)
    assert 0 < float(share) < 1  # an untrained critic prefers the teacher on some observations only
    torch.testing.assert_close(share, better.float().mean())
    torch.testing.assert_close(filtered, torch.mean(gap * better.float()))
    assert float(filtered.detach()) < float(unfiltered.detach())


def test_the_q_filter_is_off_during_the_imitation_phase(repository) -> None:
    built, source = _built_learner(repository, distillation_q_filter=True)
    built.set_teacher(source.name, source.inference_state(), 1.0)
    batch = _as_multi_agent(_replay_batch())
    filtered = built.update(batch=batch)[DEFAULT_MODULE_ID]["distillation_imitated_share"].peek()
    built.set_imitation_phase(True)
    imitation_phase = built.update(batch=batch)[DEFAULT_MODULE_ID]["distillation_imitated_share"].peek()
    assert filtered < 1.0 and imitation_phase == 1.0


def test_the_soft_q_filter_imitates_rejected_observations_with_the_measured_weight(learner) -> None:
    built, source = learner
    module, batch, fwd_out = _teacher_on_a_batch(built, source)
    share, hard = built._imitation_loss(module, batch, fwd_out, q_filter=True)
    _, soft = built._imitation_loss(module, batch, fwd_out, q_filter=True, rejected_weight=0.25)
    _, everywhere = built._imitation_loss(module, batch, fwd_out, q_filter=False)
    assert 0 < float(share) < 1
    torch.testing.assert_close(soft, hard + 0.25 * (everywhere - hard))
    _, full = built._imitation_loss(module, batch, fwd_out, q_filter=True, rejected_weight=1.0)
    torch.testing.assert_close(full, everywhere)


def test_the_soft_q_filter_uses_the_teachers_measured_weight(repository) -> None:
    built, source = _built_learner(repository, distillation_q_filter=True, distillation_q_filter_soft=True)
    module, batch, fwd_out = _teacher_on_a_batch(built, source, weight=0.25)
    with torch.no_grad():
        _, expected = built._imitation_loss(module, batch, fwd_out, q_filter=True, rejected_weight=0.25)
    logged = built.update(batch=_as_multi_agent(batch))[DEFAULT_MODULE_ID]["distillation_loss"].peek()
    assert logged == pytest.approx(float(expected), rel=1e-5)


def test_the_spread_term_pulls_the_students_log_std_and_nothing_else_toward_the_teachers(learner) -> None:
    built, source = learner
    module, batch, fwd_out = _teacher_on_a_batch(built, source)
    _, mean_only = built._imitation_loss(module, batch, fwd_out, q_filter=False)
    _, with_spread = built._imitation_loss(module, batch, fwd_out, q_filter=False, spread=True)
    with torch.no_grad():
        teacher_inputs = built._teacher.forward_inference({"obs": batch["obs"]})["action_dist_inputs"]
    spread_gap = (_clamped_log_std(fwd_out["action_dist_inputs"]) - _clamped_log_std(teacher_inputs)) ** 2
    assert float(spread_gap.detach().mean()) > 0  # a fresh policy and a trained source spread differently
    torch.testing.assert_close(with_spread - mean_only, torch.mean(torch.sum(spread_gap, dim=-1)))
    inputs = fwd_out["action_dist_inputs"]
    spread_grad = torch.autograd.grad(with_spread - mean_only, inputs, retain_graph=True)[0]
    mean_grad, log_std_grad = torch.chunk(spread_grad, 2, dim=-1)
    assert torch.all(mean_grad == 0) and torch.any(log_std_grad != 0)
    assert torch.all(torch.chunk(torch.autograd.grad(mean_only, inputs)[0], 2, dim=-1)[1] == 0)


def test_the_spread_key_reaches_the_learners_loss(repository) -> None:
    built, source = _built_learner(repository, distillation_q_filter=False, distillation_spread=True)
    module, batch, fwd_out = _teacher_on_a_batch(built, source)
    with torch.no_grad():
        _, expected = built._imitation_loss(module, batch, fwd_out, q_filter=False, spread=True)
    logged = built.update(batch=_as_multi_agent(batch))[DEFAULT_MODULE_ID]["distillation_loss"].peek()
    assert logged == pytest.approx(float(expected), rel=1e-5)


def test_the_teacher_is_part_of_the_learner_state(learner) -> None:
    built, source = learner
    built.set_teacher(source.name, source.inference_state(), 0.7)
    state = built.get_state()
    assert state["fast_distillation"]["teacher"] == source.name and state["fast_distillation"]["weight"] == 0.7
    built.set_teacher(None, None, 1.0)
    assert built.distillation_weight == 0.0
    built.set_state(state)  # restoring brings the teacher back
    assert built.teacher_name == source.name and built.distillation_weight == 0.7
    torch.testing.assert_close(policy_outputs(built._teacher), policy_outputs(source.load_module()))


def _as_multi_agent(batch: dict[str, torch.Tensor]):
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

    return MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(batch)}, env_steps=len(batch["obs"]))


# FAST end to end ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_fast_gives_the_learner_the_measured_teacher_and_keeps_it_through_a_checkpoint(repository, ray_session, tmp_path) -> None:
    config = tiny_fast_config(
        repository, distillation=True, distillation_pretrain_updates=3, min_episodes_to_compare=1, source_training_intensity=16,
        distillation_release_step=0.25,
    )
    algo = config.build_algo()
    try:
        result = {}
        for _ in range(12):
            result = algo.train()
            if algo.distillation_pull.teacher is not None and algo._pretrained:
                break
        pull = algo.distillation_pull
        assert pull.teacher is not None and pull.teacher in algo.source_names
        learner = algo.learner_group._learner
        assert learner.teacher_name == pull.teacher and learner.distillation_weight == pull.weight
        assert result["fast"]["distillation"]["weight"] == pull.weight
        assert {name for name, flag in result["fast"]["distillation"]["teacher"].items() if flag} == {pull.teacher}
        torch.testing.assert_close(
            policy_outputs(learner._teacher), policy_outputs(SourceRepository.load(repository)[pull.teacher].load_module())
        )
        # The release's memory goes with the checkpoint: a target that drove under a strong pull.
        algo._drove_under = DroveUnder(pull.teacher, 1.0)
        algo._follow_measured_pull()
        pull = algo.distillation_pull
        assert pull.weight >= 0.75
        checkpoint = algo.save_to_path(tmp_path / "checkpoint")
    finally:
        algo.stop()
    restored = config.build_algo()
    try:
        restored.restore_from_path(checkpoint)
        assert restored._drove_under == DroveUnder(pull.teacher, 1.0) and restored.distillation_pull == pull
        learner = restored.learner_group._learner
        assert learner.teacher_name == pull.teacher and learner.distillation_weight == pull.weight
        assert restored._pretrained and restored.distillation_pull.teacher == pull.teacher
        teacher_module = SourceRepository.load(repository)[pull.teacher].load_module()
        torch.testing.assert_close(policy_outputs(learner._teacher), policy_outputs(teacher_module))
    finally:
        restored.stop()


def _target_round_needed(pull: Pull, measuring_after_imitation: bool = False) -> str | None:
    return FAST._target_round_needed(
        SimpleNamespace(_measured_pull=lambda: pull, _measuring_after_imitation=lambda: measuring_after_imitation)
    )


def test_after_the_imitation_phase_the_target_drives_until_it_is_measured_again(repository) -> None:
    """With the key on, a target not measured since the phase drives the next round; a held release speaks
    first, and without the key, or before the phase, or once measured, nothing is asked."""
    caught_up = Pull("chicane", 0.05, "caught up", {"chicane": 0.05})
    assert _target_round_needed(caught_up, True) == "measuring the target after the imitation phase"
    held = Pull("chicane", 0.5, "held", {"chicane": 0.05})
    assert _target_round_needed(held, True).startswith("confirming the release: ")
    unmeasured, measured = _selector({"teacher": [100.0] * 4}), _selector({"teacher": [100.0] * 4, TARGET: [90.0] * 4})
    for key, pretrained, selector, expected in (
        (True, True, unmeasured, True),
        (False, True, unmeasured, False),
        (True, False, unmeasured, False),
        (True, True, measured, False),
    ):
        config = tiny_fast_config(repository, distillation_measure_after_imitation=key)
        fast = SimpleNamespace(config=config, _pretrained=pretrained, selector=selector)
        assert FAST._measuring_after_imitation(fast) is expected, (key, pretrained, expected)


def test_fast_measures_the_target_over_the_configured_latest_episodes(repository) -> None:
    selector = _selector({"teacher": [100.0, 100.0], TARGET: [2.0, 3.0, 100.0, 104.0]})
    latest_config = tiny_fast_config(repository, distillation_target_episodes=2)
    fresh = DroveUnder()
    latest_two = FAST._measured_pull(SimpleNamespace(config=latest_config, selector=selector, _drove_under=fresh))
    every_kept_config = tiny_fast_config(repository, distillation_target_episodes=None)
    every_kept = FAST._measured_pull(SimpleNamespace(config=every_kept_config, selector=selector, _drove_under=fresh))
    assert (latest_two.teacher, latest_two.weight) == ("teacher", 0.0)
    assert every_kept.weight == pytest.approx(1 - 209.0 / 4 / 100)
    no_distillation = tiny_fast_config(repository, distillation=False, distillation_target_episodes=2)
    assert FAST._measured_pull(SimpleNamespace(config=no_distillation, selector=selector, _drove_under=fresh)) is NO_PULL
    stepped = tiny_fast_config(repository, distillation_target_episodes=2, distillation_release_step=0.25)
    just_below = _selector({"teacher": [100.0, 100.0], TARGET: [2.0, 3.0, 96.0, 94.0]})
    drove_under = DroveUnder("teacher", 0.6)
    held = FAST._measured_pull(SimpleNamespace(config=stepped, selector=just_below, _drove_under=drove_under))
    assert (held.teacher, held.weight) == ("teacher", pytest.approx(0.35))


def _train_until_logged(algo, caplog, text: str, iterations: int) -> list[str]:
    """Train until FAST logs a message containing ``text`` (at most ``iterations`` times); FAST's log so far."""
    with caplog.at_level(logging.INFO, logger="fast_rllib.fast"):
        for _ in range(iterations):
            algo.train()
            if any(text in record.getMessage() for record in caplog.records):
                break
    return [record.getMessage() for record in caplog.records]


@pytest.mark.slow
def test_the_target_drives_while_a_release_of_the_pull_waits(repository, ray_session, caplog) -> None:
    """Θ = 0 makes the paper's rule pick a source at every decision; a release held above what was measured
    overrules it, and the target drives under the held weight."""
    config = tiny_fast_config(repository, distillation_release_step=0.25, min_episodes_to_compare=1)
    algo = config.build_algo()
    try:
        messages = _train_until_logged(algo, caplog, "confirming the release", iterations=8)
        confirming = [message for message in messages if "confirming the release" in message]
        assert confirming, "no decision let the target drive to confirm a release"
        assert ": target (confirming the release: " in confirming[0] and "until the target drives under it" in confirming[0]
    finally:
        algo.stop()


@pytest.mark.slow
def test_the_target_drives_to_be_measured_after_the_imitation_phase(repository, ray_session, caplog) -> None:
    """Θ = 0 makes the paper's rule pick a source at every decision; after the imitation phase the target's
    earlier episodes are dropped and the next decision lets it drive to be measured."""
    config = tiny_fast_config(
        repository, distillation_pretrain_updates=3, min_episodes_to_compare=1, distillation_measure_after_imitation=True
    )
    algo = config.build_algo()
    try:
        messages = _train_until_logged(algo, caplog, "measuring the target after", iterations=12)
        forgot = next(index for index, message in enumerate(messages) if "before the imitation phase no longer" in message)
        decisions = [message for message in messages[forgot:] if message.startswith("FAST decision")]
        assert decisions and ": target (measuring the target after the imitation phase)" in decisions[0]
        assert algo._pretrained and algo._measuring_target
    finally:
        algo.stop()


def test_validate_names_bad_distillation_settings(repository) -> None:
    for training, message in (
        ({"distillation_coefficient": -1.0}, "distillation_coefficient=-1.0 must be >= 0"),
        ({"distillation_pretrain_updates": 2.5}, "distillation_pretrain_updates=2.5 must be an integer >= 0"),
        ({"source_training_intensity": 0}, "source_training_intensity=0 must be None or > 0"),
        ({"distillation_target_episodes": 0}, "distillation_target_episodes=0 must be None or an integer >= 1"),
        ({"distillation_target_episodes": 2.0}, "distillation_target_episodes=2.0 must be None or an integer >= 1"),
        ({"distillation_release_step": 0}, r"distillation_release_step=0 must be None or in \(0, 1\]"),
        ({"distillation_release_step": 1.5}, r"distillation_release_step=1.5 must be None or in \(0, 1\]"),
        ({"distillation_release_step": "0.2"}, r"distillation_release_step='0.2' must be None or in \(0, 1\]"),
        ({"distillation_measure_after_imitation": 1}, "distillation_measure_after_imitation=1 must be True or False"),
    ):
        with pytest.raises(ValueError, match=message):
            tiny_fast_config(repository, **training).validate()


def test_the_iteration_line_shows_the_teacher_its_weight_and_the_imitation_loss() -> None:
    result = {
        "training_iteration": 3, "num_env_steps_sampled_lifetime": 3000, "time_this_iter_s": 2.0,
        "env_runners": {"num_env_steps_sampled": 1000},
        "fast": {"drives": {"chicane-v0": 1.0}, "env_steps": {"chicane-v0": 3000},
                 "distillation": {"weight": 0.625, "teacher": {"chicane-v0": 1.0, "kidney-v0": 0.0}}},
        "learners": {DEFAULT_MODULE_ID: {"distillation_loss": 0.0134}},
    }
    assert iteration_line(result).endswith("pull chicane-v0 0.62 (loss 0.013)")
    result["fast"]["distillation"]["teacher"] = {"chicane-v0": 0.0, "kidney-v0": 0.0}
    assert iteration_line(result).endswith("pull none")
