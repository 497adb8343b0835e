"""FAST end to end on a real (tiny) repository with one remote EnvRunner.

Shows that the EnvRunners act with the selected source's weights (and with the target's otherwise), that
only the target learns, that a checkpoint restores the selection state, and that bad settings are named.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import ray
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from tiny_repository import (
    policy_outputs,
    runner_outputs,
    tiny_fast_config,
    tiny_sac_config,
    train_until_a_source_drove_a_whole_step,
)

from fast_rllib import FAST
from fast_rllib.repository import SourceRepository
from fast_rllib.fast.selection import TARGET

pytestmark = pytest.mark.slow


def _runner_outputs(algo: FAST) -> torch.Tensor:
    return runner_outputs(algo)[0][1]


def _target_module(algo: FAST):
    return algo.learner_group._learner.module[DEFAULT_MODULE_ID]


@pytest.fixture(scope="module")
def following(repository, ray_session):
    """Θ = 0: the best source always qualifies, so a source drives from the first decision on."""
    algo = tiny_fast_config(repository, similarity_target_stacks=2).build_algo()
    sources_before = {name: ray.get(ref) for name, ref in algo._source_states.items()}
    target_before = {k: v.clone() for k, v in _target_module(algo).state_dict().items()}
    result, _ = train_until_a_source_drove_a_whole_step(algo, min_steps=3)  # >= 3 decisions, a source on the runners
    yield algo, result, sources_before, target_before
    algo.stop()


def test_a_selected_source_drives_the_env_runners(following, repository) -> None:
    algo, result, _, _ = following
    assert algo.behaviour != TARGET
    assert result["fast"]["following_source"] == 1.0
    assert algo.behaviour == max(algo.selector.state.scores, key=algo.selector.state.scores.get)
    source_module = SourceRepository.load(repository)[algo.behaviour].load_module()
    torch.testing.assert_close(_runner_outputs(algo), policy_outputs(source_module))
    assert not torch.allclose(_runner_outputs(algo), policy_outputs(_target_module(algo)))


def test_only_the_target_learns(following, repository) -> None:
    algo, result, sources_before, target_before = following
    assert result["learners"][DEFAULT_MODULE_ID]["num_module_steps_trained_lifetime"] > 0
    target_after = _target_module(algo).state_dict()
    assert any(not torch.equal(target_before[key], target_after[key]) for key in target_before)
    on_disk = SourceRepository.load(repository)
    for name, state in sources_before.items():
        for key, value in state.items():
            np.testing.assert_array_equal(ray.get(algo._source_states[name])[key], value)
            np.testing.assert_array_equal(on_disk[name].inference_state()[key], value)


def test_a_source_samples_its_policy_unless_sources_act_greedily() -> None:
    """``explore`` for the next round: the target's is the config's (None); a source's is False only when
    ``sources_act_greedily`` is set (FAST on DQN always sets it)."""
    for greedily, source_explore in ((False, None), (True, False)):
        for behaviour, explore in ((TARGET, None), ("racetrack-oval-v0", source_explore)):
            config = SimpleNamespace(sources_act_greedily=greedily, distillation_measure_greedily=False)
            algo = SimpleNamespace(behaviour=behaviour, config=config, _measuring_target=True)
            assert FAST._exploration_of_behaviour(algo) is explore


def test_the_target_measured_for_the_pull_drives_on_its_mean_action_only_with_the_key() -> None:
    for greedily, measuring, explore in ((True, True, False), (True, False, None), (False, True, None)):
        config = SimpleNamespace(sources_act_greedily=True, distillation_measure_greedily=greedily)
        algo = SimpleNamespace(behaviour=TARGET, config=config, _measuring_target=measuring)
        assert FAST._exploration_of_behaviour(algo) is explore, (greedily, measuring)


def test_steps_and_scores_are_reported_per_behaviour(following) -> None:
    _, result, _, _ = following
    fast = result["fast"]
    assert set(fast["score"]) == {"racetrack-oval-v0", "highway-v0"}
    assert sum(fast["env_steps"].values()) == result["num_env_steps_sampled_lifetime"]
    assert fast["decisions"] >= 3 and fast["service_latency_ms"] > 0


def test_the_service_counts_this_runs_queries_under_its_name(following) -> None:
    """Every decision is one query, sent under the run's client name (the trial's, under Tune)."""
    algo, _, _, _ = following
    stats = ray.get(algo.similarity._service().stats.remote(), timeout=30)
    assert stats["client_requests"][algo.similarity.client_id] == algo.selector.state.decisions
    assert algo.similarity.client_id.startswith("FAST-")


def test_the_latest_target_stacks_are_scored_together(following) -> None:
    algo, _, _, _ = following
    window = list(algo._target_stacks)
    assert len(window) == 2 and not np.array_equal(window[0], window[1])  # 2 of the >= 3 decisions' stacks
    scores, _ = algo.similarity.scores(np.stack(window), algo.config.resolved_target_description)
    assert scores == pytest.approx(algo.selector.state.scores)


def test_checkpoint_restores_the_selection_state(following, tmp_path) -> None:
    algo, _, _, _ = following
    algo.save_to_path(tmp_path)
    restored = FAST.from_checkpoint(tmp_path)
    try:
        assert restored.selector.state.to_dict() == algo.selector.state.to_dict()
        assert restored.behaviour == algo.behaviour
        for restored_stack, stack in zip(restored._target_stacks, algo._target_stacks, strict=True):
            np.testing.assert_array_equal(restored_stack, stack)
        torch.testing.assert_close(_runner_outputs(restored), _runner_outputs(algo))
        restored.train()
        assert restored.selector.state.decisions > algo.selector.state.decisions
    finally:
        restored.stop()


def test_the_source_drives_again_after_evaluate_synced_the_target(repository, ray_session) -> None:
    """``evaluate()`` without an evaluation EnvRunner group copies the learner's (target's) weights into
    the training EnvRunners; the next training round must be driven by the source FAST counts."""
    config = tiny_fast_config(repository, similarity_timeout_s=60.0).env_runners(create_env_on_local_worker=True)
    algo = config.build_algo()
    try:
        train_until_a_source_drove_a_whole_step(algo)
        algo.evaluate()
        # evaluate()'s sync is fire-and-forget and RLlib skips it when the sequence numbers say the
        # EnvRunner is up to date; make the replacement it intends certain, then check FAST undoes it.
        algo.push_weights(ray.put(algo._target_inference_state()))
        torch.testing.assert_close(_runner_outputs(algo), policy_outputs(_target_module(algo)))
        driving = algo.behaviour  # the source whose weights go out with the next sampling request
        algo.train()
        source_module = SourceRepository.load(repository)[driving].load_module()
        torch.testing.assert_close(_runner_outputs(algo), policy_outputs(source_module))
    finally:
        algo.stop()


def _trained_target_weights(config, iterations: int = 3, check=None) -> tuple[dict[str, torch.Tensor], float]:
    """Train, run ``check(algo, last_result)`` if given, and return the target's weights and env steps."""
    algo = config.build_algo()
    try:
        for _ in range(iterations):
            result = algo.train()
        if check is not None:
            check(algo, result)
        weights = {key: value.detach().clone() for key, value in _target_module(algo).state_dict().items()}
        return weights, result["num_env_steps_sampled_lifetime"]
    finally:
        algo.stop()


def _the_target_drives_and_is_synced(algo: FAST, result: dict) -> None:
    assert algo.behaviour == TARGET and result["fast"]["following_source"] == 0.0
    assert result["learners"][DEFAULT_MODULE_ID]["num_module_steps_trained_lifetime"] > 0
    torch.testing.assert_close(_runner_outputs(algo), policy_outputs(_target_module(algo)))


def test_fast_that_never_hands_over_trains_exactly_like_sac(repository, ray_session) -> None:
    """Θ = 1 (no source qualifies): the target drives with its own, synced weights, and FAST only adds
    frame captures and similarity queries, leaving sampling and learning bit-identical to SAC's at the
    same seed. Distillation is on, with its imitation phase: with no source chosen there is no teacher, so
    neither the phase nor the imitation term may change a weight."""
    sac_weights, sac_steps = _trained_target_weights(tiny_sac_config().debugging(seed=7))
    never_hands_over = tiny_fast_config(repository, similarity_threshold=1.0, distillation=True, distillation_pretrain_updates=5)
    fast_weights, fast_steps = _trained_target_weights(never_hands_over.debugging(seed=7), check=_the_target_drives_and_is_synced)
    assert fast_steps == sac_steps
    for key, value in sac_weights.items():
        torch.testing.assert_close(fast_weights[key], value, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"similarity_threshold": 1.5}, r"similarity_threshold=1.5 is outside the range of similarity_metric 'minmax_cosine': \[0.0, 1.0\]"),
        ({"similarity_interval": 0}, "similarity_interval=0 must be a positive integer"),
        ({"similarity_target_stacks": 0}, "similarity_target_stacks=0 must be a positive integer"),
        ({"modality": "T"}, "modality='T' is not supported; allowed values: F, FT"),
        ({"frame_size": 64}, "frame_size=64 but the repository at .* stores 32 px frames"),
        ({"sources_act_greedily": "yes"}, "sources_act_greedily='yes' must be True or False"),
        ({"distillation_measure_greedily": None}, "distillation_measure_greedily=None must be True or False"),
        ({"distillation_spread": 1}, "distillation_spread=1 must be True or False"),
    ],
)
def test_validate_names_bad_settings(repository, training: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny_fast_config(repository, **training).validate()


def test_validate_names_an_unusable_repository(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"repository_path='.*' cannot serve target 'fast/indiana-v0': .*index.json is missing"):
        tiny_fast_config(tmp_path).validate()
