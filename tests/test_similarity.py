"""Similarity metrics: the paper's and the calibrated alternatives rank, bound and reject as promised."""

from __future__ import annotations

import numpy as np
import pytest

from fast_rllib.embedding.similarity import METRIC_RANGES, METRICS, SourcePool, check_threshold, similarity_scores

RNG = np.random.default_rng(0)


def _pool() -> tuple[np.ndarray, list[np.ndarray]]:
    target = RNG.random((2, 32))
    near = target.mean(0) + 0.02 * RNG.standard_normal((10, 32))
    far = RNG.random((10, 32)) * 3.0 + 1.0
    other = RNG.random((10, 32))
    return target, [far, near, other]


@pytest.mark.parametrize("metric", METRICS)
def test_the_nearest_source_scores_highest(metric: str) -> None:
    target, sources = _pool()
    scores = similarity_scores(target, sources, metric)
    assert scores.shape == (3,)
    assert int(np.argmax(scores)) == 1


@pytest.mark.parametrize("metric", METRICS)
def test_scores_stay_in_the_metric_range(metric: str) -> None:
    target, sources = _pool()
    low, high = METRIC_RANGES[metric]
    scores = similarity_scores(target, sources, metric)
    assert np.all(scores >= low - 1e-9) and np.all(scores <= high + 1e-9)


def test_paper_metric_crowds_scores_near_the_top_and_alternatives_spread_them() -> None:
    """The paper's min-max cosine leaves little room between sources; the alternatives use their range."""
    target, sources = _pool()
    spreads = {}
    for metric in METRICS:
        low, high = METRIC_RANGES[metric]
        scores = similarity_scores(target, sources, metric)
        spreads[metric] = (scores.max() - scores.min()) / (high - low)
    assert spreads["standardized_cosine"] > spreads["minmax_cosine"]
    assert spreads["rbf"] > spreads["minmax_cosine"]


def test_identical_rows_score_the_maximum() -> None:
    target = RNG.random((1, 8))
    scores = similarity_scores(target, [np.repeat(target, 3, axis=0), RNG.random((3, 8))], "rbf")
    assert scores[0] == pytest.approx(1.0)


def test_bad_inputs_are_named() -> None:
    target, sources = _pool()
    with pytest.raises(ValueError, match=r"metric='dot' is not supported; allowed values: minmax_cosine"):
        similarity_scores(target, sources, "dot")
    with pytest.raises(ValueError, match="no source embeddings"):
        similarity_scores(target, [], "rbf")
    with pytest.raises(ValueError, match=r"source 1 embedding has shape \(10, 31\); expected \(rows >= 1, 32\)"):
        similarity_scores(target, [sources[0], sources[1][:, :31]], "rbf")
    with pytest.raises(ValueError, match=r"target embedding must be a non-empty"):
        similarity_scores(np.zeros((0, 32)), sources, "rbf")


def test_threshold_must_lie_in_the_metric_range() -> None:
    check_threshold("standardized_cosine", -0.5)
    with pytest.raises(ValueError, match=r"threshold=1.5 is outside the range of metric 'rbf': \[0.0, 1.0\]"):
        check_threshold("rbf", 1.5)


@pytest.mark.parametrize("metric", METRICS)
def test_feature_weights_act_after_scaling(metric: str) -> None:
    """Weighting a block of features changes the scores (a weight applied before the per-feature
    rescaling would be undone by it), and weight 0 removes the block entirely."""
    rng = np.random.default_rng(1)
    target, sources = rng.normal(size=(3, 6)), [rng.normal(size=(4, 6)) for _ in range(3)]
    heavy_tail = similarity_scores(target, sources, metric, np.array([1, 1, 1, 1, 1, 1.0]))
    light_tail = similarity_scores(target, sources, metric, np.array([1, 1, 1, 0.1, 0.1, 0.1]))
    assert not np.allclose(heavy_tail, light_tail)
    # With the last three features weighted 0, only the first three count (scaling is per feature).
    dropped = similarity_scores(target, sources, metric, np.array([1, 1, 1, 0, 0, 0.0]))
    np.testing.assert_allclose(dropped, similarity_scores(target[:, :3], [s[:, :3] for s in sources], metric))
    with pytest.raises(ValueError, match="feature_weights must be 6 non-negative numbers"):
        similarity_scores(target, sources, metric, np.ones(5))


@pytest.mark.parametrize("metric", ["energy", "nearest_cosine"])
def test_set_metrics_prefer_the_source_that_covers_the_whole_target(metric: str) -> None:
    """A target whose frames come in two kinds (straights and bends of a track): a source showing only
    tight copies of one kind (a straight highway) wins every mean-over-pairs metric when the bends sit
    far from everything, but the set metrics charge it for the kind it lacks."""
    rng = np.random.default_rng(2)
    straight, bend = np.zeros(16), np.full(16, 4.0)
    def around(centre: np.ndarray, count: int, spread: float) -> np.ndarray:
        return centre + spread * rng.standard_normal((count, 16))
    target = np.concatenate([around(straight, 6, 0.5), around(bend, 2, 0.5)])
    highway = around(straight, 10, 0.05)
    track = np.concatenate([around(straight, 5, 1.0), around(bend, 5, 1.0)])
    unrelated = around(np.full(16, -6.0), 10, 0.5)
    scores = {name: similarity_scores(target, [highway, track, unrelated], name) for name in METRICS}
    assert int(np.argmax(scores[metric])) == 1
    assert int(np.argmax(scores["rbf"])) == 0  # the failure the set metrics exist for


def test_nearest_cosine_is_its_definition_for_sources_of_any_sizes() -> None:
    """Every source's rows go through one product: each score must still be the mean over target rows of
    the best cosine with that source's own rows (standardised over all rows), whatever the sources' sizes."""
    rng = np.random.default_rng(5)
    target = rng.standard_normal((8, 12))
    sources = [rng.standard_normal((rows, 12)) + shift for rows, shift in ((1, 0.0), (7, 1.0), (40, -0.5), (3, 2.0))]
    everything = np.concatenate([target, *sources])
    scaled = (everything - everything.mean(0)) / everything.std(0)
    unit = scaled / np.linalg.norm(scaled, axis=1, keepdims=True)
    target_unit, start, expected = unit[: len(target)], len(target), []
    for rows in sources:
        expected.append((target_unit @ unit[start : start + len(rows)].T).max(axis=1).mean())
        start += len(rows)
    assert similarity_scores(target, sources, "nearest_cosine") == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("weighted", [False, True])
def test_a_source_pool_scores_as_the_direct_computation(metric: str, weighted: bool) -> None:
    """The pool the service holds answers each query as similarity_scores does from scratch (nearest_cosine
    through its stored sums and squares, to float64 rounding), with and without feature weights."""
    rng = np.random.default_rng(7)
    sources = [rng.random((rows, 10)) * 4 + shift for rows, shift in ((6, 0.0), (1, 1.0), (25, 0.3))]
    pool = SourcePool(sources)
    weights = rng.random(10) * 2 if weighted else None
    for target in (rng.random((8, 10)) * 4, sources[2][:3] + 0.01, rng.random((1, 10))):
        expected = similarity_scores(target, sources, metric, weights)
        assert pool.scores(target, metric, weights) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_a_source_pool_names_a_target_of_the_wrong_width() -> None:
    with pytest.raises(ValueError, match="target embedding has 4 features; the sources have 10"):
        SourcePool([np.ones((3, 10))]).scores(np.ones((2, 4)), "nearest_cosine")


def test_nearest_cosine_does_not_charge_a_source_for_what_the_target_never_shows() -> None:
    """A few target stacks show part of a track; the source that has driven exactly those situations (and
    much else besides) must beat one whose every frame is a blurred copy of them. The energy distance,
    comparing whole distributions, charges the first source for the rest of its track."""
    rng = np.random.default_rng(3)
    target = rng.standard_normal((4, 16))
    seen_it_all = np.concatenate([target + 0.05 * rng.standard_normal((4, 16)), 3.0 * rng.standard_normal((36, 16))])
    blurred = target[rng.integers(0, 4, 40)] + 0.8 * rng.standard_normal((40, 16))
    assert int(np.argmax(similarity_scores(target, [seen_it_all, blurred], "nearest_cosine"))) == 0
    assert int(np.argmax(similarity_scores(target, [seen_it_all, blurred], "energy"))) == 1


@pytest.mark.parametrize("metric", ["energy", "nearest_cosine"])
def test_set_metrics_score_one_for_the_same_rows(metric: str) -> None:
    rows = RNG.random((5, 8))
    scores = similarity_scores(rows, [rows.copy(), RNG.random((5, 8)) + 1.0], metric)
    assert scores[0] == pytest.approx(1.0) and scores[1] < 0.9
