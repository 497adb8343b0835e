"""FAST's selection rules, without Ray: threshold, fallback, hysteresis, guard, hand-back, state round trip."""

from __future__ import annotations

import pytest

from fast_rllib.fast.selection import TARGET, SelectionSettings, SelectionState, Selector


def test_best_source_at_or_above_threshold_drives() -> None:
    selector = Selector(SelectionSettings(threshold=0.6))
    decision = selector.decide({"oval": 0.6, "highway": 0.4})
    assert (decision.behaviour, decision.switched) == ("oval", True)
    assert "'oval' scores 0.600 >= threshold 0.6" in decision.reason


def test_below_threshold_the_target_drives() -> None:
    selector = Selector(SelectionSettings(threshold=0.7))
    decision = selector.decide({"oval": 0.69, "highway": 0.2})
    assert decision.behaviour == TARGET and not decision.switched
    assert "best source 'oval' scores 0.690 < threshold 0.7" in decision.reason


def test_service_failure_falls_back_to_the_target() -> None:
    selector = Selector(SelectionSettings(threshold=0.5))
    selector.decide({"oval": 0.9})
    decision = selector.decide(None)
    assert decision.behaviour == TARGET and decision.switched
    assert decision.reason == "similarity service unavailable"
    assert selector.state.switches == 2


def test_without_hysteresis_noisy_scores_thrash() -> None:
    selector = Selector(SelectionSettings(threshold=0.5))
    behaviours = [selector.decide(scores).behaviour for scores in _noisy_scores()]
    assert behaviours == ["a", "b", "a", TARGET, "a"]


def test_hysteresis_keeps_the_active_source_through_noise() -> None:
    selector = Selector(SelectionSettings(threshold=0.5, hysteresis=0.05))
    behaviours = [selector.decide(scores).behaviour for scores in _noisy_scores()]
    assert behaviours == ["a"] * 5
    # A clearly better source still takes over.
    assert selector.decide({"a": 0.6, "b": 0.7}).behaviour == "b"


def _noisy_scores() -> list[dict[str, float]]:
    return [{"a": 0.62, "b": 0.60}, {"a": 0.60, "b": 0.62}, {"a": 0.61, "b": 0.60}, {"a": 0.48, "b": 0.3}, {"a": 0.6, "b": 0.3}]


def _selector(**settings: object) -> Selector:
    return Selector(SelectionSettings(threshold=0.5, min_episodes_to_compare=2, **settings))


def test_negative_transfer_guard_retires_a_source_that_drives_worse() -> None:
    selector = _selector(negative_transfer_guard=True)
    for value in (50.0, 52.0):
        selector.record_episode(TARGET, value)
    for value in (10.0, 12.0):
        selector.record_episode("highway", value)
    decision = selector.decide({"highway": 0.9, "oval": 0.55})
    assert decision.behaviour == "oval"
    assert selector.state.retired["highway"].startswith("negative transfer: its episodes return 11.00 < the target's 51.00")


def test_guard_is_off_by_default() -> None:
    selector = _selector()
    for behaviour, value in ((TARGET, 50.0), (TARGET, 50.0), ("highway", 10.0), ("highway", 10.0)):
        selector.record_episode(behaviour, value)
    assert selector.decide({"highway": 0.9}).behaviour == "highway"


def test_hand_back_once_the_target_catches_up() -> None:
    selector = _selector(hand_back=True, hand_back_ratio=0.9, return_window=4)
    for value in (60.0, 60.0):
        selector.record_episode("oval", value)
    for value in (40.0, 40.0):
        selector.record_episode(TARGET, value)
    assert selector.decide({"oval": 0.8}).behaviour == "oval"
    for value in (56.0, 56.0, 56.0, 56.0):
        selector.record_episode(TARGET, value)
    decision = selector.decide({"oval": 0.8})
    assert decision.behaviour == TARGET and decision.reason == "every source is retired"
    assert selector.state.retired["oval"].startswith("handed back: the target returns 56.00 >= 0.9 x its 60.00")


def test_probes_let_the_target_drive_every_nth_source_decision() -> None:
    selector = _selector(hand_back=True, probe_every=3)
    behaviours = [selector.decide({"oval": 0.8}).behaviour for _ in range(6)]
    assert behaviours == ["oval", "oval", TARGET, "oval", "oval", TARGET]


def test_random_source_choice_keeps_the_schedule_but_not_the_source() -> None:
    selector = Selector(SelectionSettings(threshold=0.5, source_choice="random", seed=3))
    scores = {"a": 0.9, "b": 0.2, "c": 0.1}
    drawn = [selector.decide(scores).behaviour for _ in range(30)]
    assert set(drawn) == {"a", "b", "c"}
    assert selector.decide({"a": 0.4, "b": 0.2, "c": 0.1}).behaviour == TARGET
    again = Selector(SelectionSettings(threshold=0.5, source_choice="random", seed=3))
    assert [again.decide(scores).behaviour for _ in range(30)] == drawn


def test_state_round_trips_through_a_dict() -> None:
    selector = _selector(hand_back=True)
    selector.record_steps("oval", 32)
    selector.record_episode("oval", 7.5)
    selector.decide({"oval": 0.8})
    restored = Selector(selector.settings, SelectionState.from_dict(selector.state.to_dict()))
    assert restored.state == selector.state
    restored.record_episode("oval", 8.5)
    assert restored.mean_return("oval") == pytest.approx(8.0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"hysteresis": -0.1}, "hysteresis=-0.1 must be >= 0"),
        ({"hand_back_ratio": 0.0}, "hand_back_ratio=0.0 must be > 0"),
        ({"probe_every": 0}, "probe_every=0 must be an integer >= 1"),
    ],
)
def test_bad_settings_are_named(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SelectionSettings(threshold=0.5, **settings)


def test_a_caller_that_needs_the_target_measured_overrules_the_best_source() -> None:
    selector = Selector(SelectionSettings(threshold=0.5))
    decision = selector.decide({"oval": 0.9}, target_needed="confirming the release")
    assert (decision.behaviour, decision.reason) == (TARGET, "confirming the release")
    assert selector.state.decisions == 1 and selector.state.scores == {"oval": 0.9}
