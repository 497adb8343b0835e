"""FAST's default rule on synthetic returns, without Ray: similarity proposes, returns decide."""

from __future__ import annotations

import numpy as np
import pytest

from fast_rllib.fast.return_bandit import ReturnBandit, build_selector, candidate_order
from fast_rllib.fast.selection import TARGET, SelectionSettings, SelectionState

SCORES = {"alpha": 0.9, "beta": 0.8, "gamma": 0.7, "highway": 0.1}
EPISODES_PER_DECISION = 5


def _bandit(**settings: object) -> ReturnBandit:
    return ReturnBandit(SelectionSettings(**{"threshold": None, "rule": "bandit", "min_episodes_to_compare": 4, **settings}))


def _run(bandit: ReturnBandit, mean_return, decisions: int, scores=SCORES, seed: int = 0) -> list[str]:
    """Each decision's behaviour drives EPISODES_PER_DECISION episodes whose returns are drawn around
    ``mean_return(behaviour, decision)``."""
    rng = np.random.default_rng(seed)
    chosen = []
    for decision in range(decisions):
        behaviour = bandit.decide(scores).behaviour
        chosen.append(behaviour)
        for _ in range(EPISODES_PER_DECISION):
            bandit.record_episode(behaviour, float(rng.normal(mean_return(behaviour, decision), 3.0)))
    return chosen


def test_untried_candidates_are_tried_in_score_order_and_non_candidates_never() -> None:
    bandit = _bandit()
    chosen = _run(bandit, lambda behaviour, _: 50.0, decisions=4)
    assert chosen == ["alpha", "beta", "gamma", TARGET]
    assert bandit.candidates(SCORES) == ["alpha", "beta", "gamma"]


def test_candidates_do_not_depend_on_the_level_of_the_scores() -> None:
    bandit = _bandit()
    lowered = {name: score - 0.35 for name, score in SCORES.items()}
    assert bandit.candidates(lowered) == bandit.candidates(SCORES)


def test_a_score_exactly_at_the_ratio_is_a_candidate() -> None:
    # (0.3 - 0.1) / (0.5 - 0.1) is 0.49999999999999994 in floating point.
    assert candidate_order({"low": 0.1, "middle": 0.3, "high": 0.5}, 0.5) == ["high", "middle"]


def test_the_floor_theta_keeps_low_scoring_sources_out() -> None:
    """Same scores, two Θ: the same ranks, but a source below the floor is no candidate, and when none
    reaches it the target drives."""
    assert _bandit(threshold=None).candidates(SCORES) == ["alpha", "beta", "gamma"]
    assert _bandit(threshold=0.75).candidates(SCORES) == ["alpha", "beta"]
    lenient, strict = _bandit(threshold=0.3), _bandit(threshold=0.95)
    assert lenient.decide(SCORES).behaviour == "alpha"
    decision = strict.decide(SCORES)
    assert decision.behaviour == TARGET
    assert decision.reason == "no candidate source: the best active one, 'alpha', scores 0.900 < threshold 0.95"


def test_the_floor_applies_to_likeness_when_candidates_are_ranked_by_another_score() -> None:
    """Transferability ranks, Θ still reads likeness: a source ranked first but unlike the target is out."""
    ranking = {"alpha": 0.2, "beta": 0.6, "gamma": 0.9}
    likeness = {"alpha": 0.9, "beta": 0.8, "gamma": 0.3}
    assert _bandit(threshold=None).candidates(ranking, likeness) == ["gamma", "beta"]
    assert _bandit(threshold=0.5).candidates(ranking, likeness) == ["beta"]
    decision = _bandit(threshold=0.5).decide(ranking, likeness=likeness)
    assert decision.behaviour == "beta"


def test_the_paper_rule_needs_theta() -> None:
    with pytest.raises(ValueError, match=r"selection_rule='paper' needs similarity_threshold \(Θ\)"):
        SelectionSettings(threshold=None, rule="paper")


def test_converges_to_the_best_arm() -> None:
    means = {"alpha": 40.0, "beta": 90.0, "gamma": 60.0, TARGET: 20.0}
    chosen = _run(_bandit(), lambda behaviour, _: means[behaviour], decisions=60)
    sources = [behaviour for behaviour in chosen[-30:] if behaviour != TARGET]  # the rest are probes
    assert sources.count("beta") >= 2 / 3 * len(sources), chosen[-30:]


def test_retires_a_harmful_look_alike_and_never_uses_it_again() -> None:
    means = {"alpha": 2.0, "beta": 80.0, "gamma": 50.0, TARGET: 15.0}
    bandit = _bandit()
    chosen = _run(bandit, lambda behaviour, _: means[behaviour], decisions=30)
    assert bandit.state.retired["alpha"].startswith("its episodes return")
    first_target = chosen.index(TARGET)
    assert "alpha" not in chosen[first_target:]


def test_hands_back_to_the_target_once_it_drives_better() -> None:
    """The target improves by 3 per decision from 10; the best source returns 60: once the target's recent
    mean passes 60 every source is retired and the target drives for good."""
    means = {"alpha": 60.0, "beta": 45.0, "gamma": 30.0}
    bandit = _bandit()
    chosen = _run(bandit, lambda behaviour, decision: 10.0 + 3 * decision if behaviour == TARGET else means[behaviour], 60)
    assert set(bandit.state.retired) == {"alpha", "beta", "gamma"}
    assert chosen[-10:] == [TARGET] * 10
    assert chosen[:25].count("alpha") > chosen[:25].count(TARGET)


def test_the_target_drives_every_probe_every_th_decision() -> None:
    means = {"alpha": 90.0, "beta": 10.0, "gamma": 10.0, TARGET: 5.0}
    chosen = _run(_bandit(probe_every=4), lambda behaviour, _: means[behaviour], decisions=24)
    assert [chosen[i] for i in range(3, 24, 4)] == [TARGET] * 6


def test_a_service_failure_lets_the_target_drive() -> None:
    bandit = _bandit()
    bandit.decide(SCORES)
    decision = bandit.decide(None)
    assert decision.behaviour == TARGET and decision.reason == "similarity service unavailable"


def test_state_round_trips_through_a_dict() -> None:
    bandit = _bandit()
    _run(bandit, lambda behaviour, _: 30.0, decisions=5)
    restored = ReturnBandit(bandit.settings, SelectionState.from_dict(bandit.state.to_dict()))
    assert restored.state == bandit.state
    assert restored.decide(SCORES).behaviour == bandit.decide(SCORES).behaviour


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"candidate_ratio": 1.5}, r"candidate_ratio=1.5 must be within \[0, 1\]"),
        ({"exploration": -1.0}, "exploration=-1.0 must be >= 0"),
        ({"rule": "greedy"}, "selection_rule='greedy' is not supported; allowed values: bandit, paper"),
    ],
)
def test_bad_settings_are_named(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SelectionSettings(threshold=None, **{"rule": "bandit", **settings})


def test_a_caller_that_needs_the_target_measured_gets_it_after_the_bookkeeping() -> None:
    """A release of the pull waiting for the target to drive: the target drives whatever the arms say, and
    the decision still counts, discounts the arms and retires a source the target has beaten."""
    bandit = _bandit()
    for _ in range(4):
        bandit.record_episode("alpha", 10.0)
        bandit.record_episode(TARGET, 50.0)
    decision = bandit.decide(SCORES, target_needed="confirming the release")
    assert (decision.behaviour, decision.reason) == (TARGET, "confirming the release")
    assert bandit.state.decisions == 1 and bandit.state.arm_stats["alpha"][0] == pytest.approx(4 * 0.9)
    assert "alpha" in bandit.state.retired


@pytest.mark.parametrize("rule", ["paper", "bandit"])
def test_forgetting_the_target_drops_its_returns_and_nothing_else(rule: str) -> None:
    """What FAST does after the imitation phase with distillation_measure_after_imitation: the target's
    earlier episodes go, for the pull and for the rule's own comparisons, and survive no checkpoint."""
    selector = build_selector(SelectionSettings(rule=rule, threshold=0.0, min_episodes_to_compare=2))
    assert isinstance(selector, ReturnBandit) == (rule == "bandit")
    for behaviour, value in ((TARGET, 1.0), (TARGET, 2.0), ("teacher", 100.0), ("teacher", 90.0)):
        selector.record_episode(behaviour, value)
    selector.forget(TARGET)
    assert selector.mean_return(TARGET) is None and TARGET not in selector.state.returns
    assert TARGET not in selector.state.arm_stats and selector.mean_return("teacher") == 95.0
    restored = build_selector(selector.settings, SelectionState.from_dict(selector.state.to_dict()))
    assert restored.mean_return(TARGET) is None and restored.mean_return("teacher") == 95.0
    selector.record_episode(TARGET, 7.0)
    assert selector.state.returns[TARGET] == [7.0]


def test_a_measured_trial_hands_over_within_the_round_to_the_next_candidate_then_the_best_arm() -> None:
    """A first candidate that crashes at once: with end_trials_when_measured its trial ends after its
    min_episodes_to_compare episodes, the next candidate is tried, then the target measured, and then the
    best measured arm drives the rest of the round, all without a new decision (no new scores)."""
    bandit = _bandit(end_trials_when_measured=True)
    assert bandit.decide(SCORES).behaviour == "alpha" and bandit.state.on_trial
    handovers = []
    for behaviour, value in (("alpha", 0.5), ("beta", 140.0), ("gamma", 20.0), (TARGET, 1.0)):
        for episode in range(4):
            assert bandit.end_of_trial() is None, f"{behaviour}'s trial ended after {episode} episodes"
            bandit.record_episode(behaviour, value)
        handovers.append(bandit.end_of_trial().behaviour)
    assert handovers == ["beta", "gamma", TARGET, "beta"]
    assert bandit.state.decisions == 1 and not bandit.state.on_trial and bandit.end_of_trial() is None
    assert "alpha" in bandit.state.retired


def test_trials_last_the_round_unless_asked_and_a_waiting_release_takes_the_target() -> None:
    """By default a trial holds until the next decision; a caller that needs the target measured gets it
    at a trial's end as at a decision."""
    held = _bandit()
    held.decide(SCORES)
    for _ in range(4):
        held.record_episode("alpha", 0.5)
    assert held.end_of_trial() is None and held.state.behaviour == "alpha"
    ending = _bandit(end_trials_when_measured=True)
    ending.decide(SCORES)
    for _ in range(4):
        ending.record_episode("alpha", 0.5)
    decision = ending.end_of_trial(target_needed="confirming the release")
    assert (decision.behaviour, decision.reason) == (TARGET, "confirming the release")


def test_a_trial_in_progress_survives_a_checkpoint() -> None:
    bandit = _bandit(end_trials_when_measured=True)
    bandit.decide(SCORES)
    for _ in range(4):
        bandit.record_episode("alpha", 0.5)
    restored = ReturnBandit(bandit.settings, SelectionState.from_dict(bandit.state.to_dict()))
    assert restored.state == bandit.state
    assert restored.end_of_trial().behaviour == "beta"
