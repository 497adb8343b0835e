"""Similarity between a target task and every source task, from their embedding rows.

Each task is a set of rows (one per 4-frame stack, the text vector repeated beside each). A metric turns
the target's rows and each source's rows into one score per source; FAST selects the best source when
its score reaches the threshold Θ, so every metric declares the range Θ must lie in.

- ``minmax_cosine`` is the paper's: features min-max scaled over all rows (sources and target, refit at
  every query), then the mean cosine between target and source rows. Scaled codes are non-negative, so
  scores crowd near 1 and the threshold barely discriminates.
- ``standardized_cosine`` centres and scales each feature over all rows first: cosine then measures
  agreement in how a task deviates from the pool, spanning [-1, 1].
- ``rbf`` is a Gaussian kernel on standardised features with the median pairwise distance as bandwidth:
  a distance, not an angle, so a source that is close in every feature wins over one merely aligned.
- ``energy`` compares the two sets of rows as distributions (standardised features): the energy
  distance 2E|T-S| - E|T-T'| - E|S-S'| is 0 only when they match, and the score is exp(-distance / m),
  m the median distance between all rows of the query. The three metrics above average over pairs of
  rows, which favours a source whose frames all look alike (a straight highway) whenever some target
  frames look like them (the straights of a track); the energy distance charges a source for the part
  of the target it does not cover (the bends), but also for frames of its own that the target never
  shows, and a few target stacks never show all of a track.
- ``nearest_cosine`` asks, for each target row, how close the source's closest row comes (cosine on
  standardised features), and averages that over the target's rows: does the source's experience
  contain situations like each of the target's? A source is charged for target situations it has never
  seen, not for the rest of its own track. A source with more rows has more chances to come close, so
  sources should keep the same number of stacks (the repository's default for every entry; the index
  logs a warning otherwise). On the shipped repository it is the one metric that keeps every racing
  source above every non-racing one for every racing target with frames alone (README, "Embeddings and
  similarity").
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence, get_args

import numpy as np

Metric = Literal["minmax_cosine", "standardized_cosine", "rbf", "energy", "nearest_cosine"]
METRICS: tuple[str, ...] = get_args(Metric)
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "minmax_cosine": (0.0, 1.0),
    "standardized_cosine": (-1.0, 1.0),
    "rbf": (0.0, 1.0),
    "energy": (0.0, 1.0),
    "nearest_cosine": (-1.0, 1.0),
}
# Chosen on the shipped repository's catalogue targets: the metric that best separates racing from
# non-racing sources, for whole targets and for FAST's 8-stack windows (benchmarks/similarity_matrix.py,
# benchmarks/results/similarity_zoo/summary.json; docs/design-history.md, "Similarity quality").
DEFAULT_METRIC: Metric = "nearest_cosine"
_EPS = 1e-8


def check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not supported; allowed values: {', '.join(METRICS)}")


def check_threshold(metric: str, threshold: float) -> None:
    check_metric(metric)
    low, high = METRIC_RANGES[metric]
    if not low <= threshold <= high:
        raise ValueError(f"threshold={threshold!r} is outside the range of metric {metric!r}: [{low}, {high}]")


def _min_max(rows: np.ndarray) -> np.ndarray:
    low, high = rows.min(axis=0), rows.max(axis=0)
    return (rows - low) / np.maximum(high - low, _EPS)


def _standardize(rows: np.ndarray) -> np.ndarray:
    return (rows - rows.mean(axis=0)) / np.maximum(rows.std(axis=0), _EPS)


def _cosine_matrix(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    left = left / np.maximum(np.linalg.norm(left, axis=1, keepdims=True), _EPS)
    right = right / np.maximum(np.linalg.norm(right, axis=1, keepdims=True), _EPS)
    return left @ right.T


def _squared_distances(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.maximum((left**2).sum(1)[:, None] + (right**2).sum(1)[None, :] - 2.0 * left @ right.T, 0.0)


def _rbf_matrix(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Gaussian kernel whose bandwidth is the median squared distance among all rows given."""
    everything = np.concatenate([left, right])
    pairwise = _squared_distances(everything, everything)[np.triu_indices(len(everything), k=1)]
    bandwidth_sq = max(float(np.median(pairwise)), _EPS)
    return np.exp(-_squared_distances(left, right) / (2.0 * bandwidth_sq))


def _mean_pairwise(pairwise: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    """A set score that averages a row-pair similarity over every (target row, source row) pair."""

    def score(target: np.ndarray, sources: list[np.ndarray]) -> np.ndarray:
        values = pairwise(target, np.concatenate(sources))
        sums = np.add.reduceat(values.sum(axis=0), _row_starts(sources))
        return sums / (len(target) * np.array([len(rows) for rows in sources]))

    return score


def _nearest_cosine_scores(target: np.ndarray, sources: list[np.ndarray]) -> np.ndarray:
    """For each target row the cosine of the source's closest row, averaged over the target's rows."""
    return np.array([_cosine_matrix(target, rows).max(axis=1).mean() for rows in sources])


def _energy_scores(target: np.ndarray, sources: list[np.ndarray]) -> np.ndarray:
    """exp(-energy distance / median row distance) between the target's rows and each source's."""
    everything = np.concatenate([target, *sources])
    distances = np.sqrt(_squared_distances(everything, everything))
    scale = max(float(np.median(distances[np.triu_indices(len(everything), k=1)])), _EPS) if len(everything) > 1 else 1.0
    target_part = slice(0, len(target))
    within_target = distances[target_part, target_part].mean()
    scores, start = [], len(target)
    for rows in sources:
        source_part = slice(start, start + len(rows))
        start += len(rows)
        energy = 2.0 * distances[target_part, source_part].mean() - within_target - distances[source_part, source_part].mean()
        scores.append(np.exp(-max(energy, 0.0) / scale))
    return np.array(scores)


_SCALERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "minmax_cosine": _min_max,
    "standardized_cosine": _standardize,
    "rbf": _standardize,
    "energy": _standardize,
    "nearest_cosine": _standardize,
}
_SET_SCORES: dict[str, Callable[[np.ndarray, list[np.ndarray]], np.ndarray]] = {
    "minmax_cosine": _mean_pairwise(_cosine_matrix),
    "standardized_cosine": _mean_pairwise(_cosine_matrix),
    "rbf": _mean_pairwise(_rbf_matrix),
    "energy": _energy_scores,
    "nearest_cosine": _nearest_cosine_scores,
}


def similarity_scores(
    target: np.ndarray,
    sources: Sequence[np.ndarray],
    metric: Metric = "minmax_cosine",
    feature_weights: np.ndarray | None = None,
) -> np.ndarray:
    """One score per source, higher meaning more similar: the metric decides how the target's set of rows
    is compared with each source's (mean similarity over row pairs, or a distance between distributions).

    ``target`` is (m, d); each source is (n_i, d). Scaling is fitted on all rows together, as the paper
    does, so adding a source can change every score: scores are comparable within one query only.
    ``feature_weights`` (d,) multiply the features *after* scaling: weighting before it would be undone
    by the per-feature rescaling (so the FT text weight would do nothing).
    """
    check_metric(metric)
    _check_target(target)
    _check_sources(sources, target.shape[1])
    scaled = _SCALERS[metric](np.concatenate([target, *sources]).astype(np.float64))
    if feature_weights is not None:
        scaled = scaled * _checked_weights(feature_weights, target.shape[1])
    target_rows, source_rows = scaled[: len(target)], scaled[len(target) :]
    source_starts = np.cumsum([len(rows) for rows in sources[:-1]])
    return _SET_SCORES[metric](target_rows, np.split(source_rows, source_starts))


def _check_target(target: np.ndarray) -> None:
    if target.ndim != 2 or not len(target):
        raise ValueError(f"target embedding must be a non-empty (rows, features) array, got shape {target.shape}")


def _row_starts(sources: Sequence[np.ndarray]) -> np.ndarray:
    """Where each source's rows begin once all sources' rows are concatenated."""
    return np.cumsum([0] + [len(rows) for rows in sources[:-1]])


def _check_sources(sources: Sequence[np.ndarray], features: int | None = None) -> None:
    """Every source a non-empty (rows, features) array; ``features`` None: the first source's."""
    if not len(sources):
        raise ValueError("no source embeddings to compare with: the repository has no entries")
    if features is None:
        features = np.shape(sources[0])[-1]
    for index, rows in enumerate(sources):
        if rows.ndim != 2 or not len(rows) or rows.shape[1] != features:
            raise ValueError(f"source {index} embedding has shape {rows.shape}; expected (rows >= 1, {features})")


def _checked_weights(feature_weights: np.ndarray, features: int) -> np.ndarray:
    if np.shape(feature_weights) != (features,) or np.any(np.asarray(feature_weights) < 0):
        raise ValueError(f"feature_weights must be {features} non-negative numbers, got shape {np.shape(feature_weights)}")
    return np.asarray(feature_weights, dtype=np.float64)


class SourcePool:
    """Every source's embedding rows, held once and scored against many targets.

    The standardising metrics rescale each feature over the target's rows and all the sources' rows at
    every query (the scaling is refitted per query, as the paper does). Done directly, every query copies
    and rescales every source row, a cost that grows with the repository. For ``nearest_cosine`` (the
    default) the pool keeps what that rescaling needs from the sources, their feature sums and squared
    rows, and writes each scaled cosine in terms of the unscaled rows: the same scores to float64
    rounding, reading the source rows once per query and copying none. Other metrics take the direct path,
    :func:`similarity_scores`.
    """

    def __init__(self, sources: Sequence[np.ndarray]) -> None:
        _check_sources(sources)
        self.sources = list(sources)
        self._rows = np.concatenate(self.sources).astype(np.float64)
        self._squares = self._rows**2
        self._sums, self._square_sums = self._rows.sum(axis=0), self._squares.sum(axis=0)
        self._starts = _row_starts(self.sources)

    def scores(self, target: np.ndarray, metric: Metric, feature_weights: np.ndarray | None = None) -> np.ndarray:
        """:func:`similarity_scores` of ``target`` against every source of the pool."""
        if metric != "nearest_cosine":
            return similarity_scores(target, self.sources, metric, feature_weights)
        _check_target(target)
        if target.shape[1] != self._rows.shape[1]:
            raise ValueError(f"target embedding has {target.shape[1]} features; the sources have {self._rows.shape[1]}")
        weights = 1.0 if feature_weights is None else _checked_weights(feature_weights, target.shape[1])
        return self._nearest_cosine(target.astype(np.float64), weights)

    def _nearest_cosine(self, target: np.ndarray, weights: np.ndarray | float) -> np.ndarray:
        # Standardisation over target and source rows together, from the sources' stored sums.
        count = len(self._rows) + len(target)
        mean = (self._sums + target.sum(axis=0)) / count
        variance = np.maximum((self._square_sums + (target**2).sum(axis=0)) / count - mean**2, 0.0)
        scale = weights / np.maximum(np.sqrt(variance), _EPS)
        # A scaled row is scale * (row - mean): its dot product with a scaled target row y is
        # row . (scale * y) - mean . (scale * y), its squared norm row^2 . scale^2 - 2 row . (scale^2 mean) + |scale mean|^2.
        scaled_target = (target - mean) * scale
        directions = np.column_stack([(scaled_target * scale).T, scale**2 * mean])
        products = self._rows @ directions
        dots = products[:, :-1] - mean @ directions[:, :-1]
        squared_norms = self._squares @ scale**2 - 2.0 * products[:, -1] + float(np.sum((scale * mean) ** 2))
        source_norms = np.maximum(np.sqrt(np.maximum(squared_norms, 0.0)), _EPS)
        target_norms = np.maximum(np.linalg.norm(scaled_target, axis=1), _EPS)
        cosines = dots / source_norms[:, None] / target_norms[None, :]
        return np.maximum.reduceat(cosines, self._starts, axis=0).mean(axis=1)
