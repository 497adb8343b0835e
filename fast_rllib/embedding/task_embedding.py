"""Task embeddings (frame codes, optionally with the description's text vector) and the source index.

A task is a set of embedding rows, one per 4-frame stack. In the paper's F variant a row is the frame
autoencoder's code; in FT the description's BERT vector is concatenated beside every code, so each row
carries both what the task looks like and what it says it is. :class:`SimilarityIndex` embeds every source
once, when it is built, because a query (every K env steps of every trial) must only pay for the target.
"""

from __future__ import annotations

import logging
from typing import Literal, Mapping, Sequence, get_args

import numpy as np

from fast_rllib.embedding.autoencoder import FrameAutoencoder
from fast_rllib.embedding.similarity import DEFAULT_METRIC, Metric, SourcePool, check_metric
from fast_rllib.embedding.text import TextEncoder
from fast_rllib.repository.loading import SourceTask
from fast_rllib.tasks.frames import check_frame_stacks

logger = logging.getLogger(__name__)

Modality = Literal["F", "FT"]
MODALITIES: tuple[str, ...] = get_args(Modality)
# Weight of each text feature against a frame-code feature in FT (384 text features, 128 code features).
# At weight 1 text outvotes frames where two descriptions read alike ("wide three-lane" racetrack vs highway);
# the weight was chosen by the separation of FT windows on the shipped repository's catalogue targets
# (benchmarks/similarity_matrix.py, benchmarks/results/similarity_zoo/summary.json; docs/design-history.md).
DEFAULT_TEXT_WEIGHT = 0.25


def check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise ValueError(f"modality={modality!r} is not supported; allowed values: {', '.join(MODALITIES)}")


def check_description(description: object, what: str = "description") -> str:
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"{what} {description!r} is empty: the FT modality needs a task description to embed")
    return description


def writeable(stacks: np.ndarray) -> np.ndarray:
    """Repository frames are read-only, and torch warns on those: a copy (37 kB a stack) for them only."""
    return stacks if stacks.flags.writeable else stacks.copy()


class TaskEmbedder:
    """Turns a task's frame stacks (and, for FT, its description) into embedding rows.

    ``text_weight`` is the weight of each text feature relative to a frame-code feature, applied by the
    metrics after their per-feature rescaling (:attr:`feature_weights`): a weight applied to the raw
    vector would be rescaled away. With 384 text features against 128 code features, weight 1 lets the
    text dominate FT.
    """

    def __init__(
        self,
        autoencoder: FrameAutoencoder,
        text_encoder: TextEncoder | None = None,
        modality: Modality = "F",
        text_weight: float = DEFAULT_TEXT_WEIGHT,
    ) -> None:
        check_modality(modality)
        if modality == "FT" and text_encoder is None:
            raise ValueError("modality='FT' needs a text encoder to embed descriptions; got text_encoder=None")
        if not np.isfinite(text_weight) or text_weight < 0:
            raise ValueError(f"text_weight={text_weight!r} must be a finite number >= 0")
        self.autoencoder = autoencoder
        self.text_encoder = text_encoder
        self.modality = modality
        self.text_weight = float(text_weight)

    @property
    def frame_size(self) -> int:
        return self.autoencoder.config.frame_size

    @property
    def dim(self) -> int:
        """Width of one row: the code, plus the text vector in FT."""
        code_dim = self.autoencoder.config.code_dim
        return code_dim + (self.text_encoder.dim if self.modality == "FT" else 0)

    @property
    def feature_weights(self) -> np.ndarray | None:
        """Per-feature weights for the metrics: None for F, 1 per code feature and ``text_weight`` per text
        feature for FT."""
        if self.modality == "F":
            return None
        code_dim = self.autoencoder.config.code_dim
        return np.concatenate([np.ones(code_dim), np.full(self.dim - code_dim, self.text_weight)])

    def rows(self, stacks: np.ndarray, description: str | None = None, what: str = "frame stacks") -> np.ndarray:
        """uint8 (N, 4, H, W) stacks -> float32 (N, dim) rows; ``description`` is required for FT only,
        so that an F-only caller with no description can still be scored."""
        [rows] = self.rows_many([(stacks, description)], what)
        if isinstance(rows, Exception):
            raise rows
        return rows

    def rows_many(
        self, queries: Sequence[tuple[np.ndarray, str | None]], what: str = "frame stacks"
    ) -> list[np.ndarray | TypeError | ValueError]:
        """Each query's rows, from one autoencoder pass over all their stacks: the shared service embeds
        concurrent trials' queries together this way. A query that fails its checks gets its exception in
        its place, so that one trial's bad frames cannot fail another trial's query."""
        checked: list[tuple[np.ndarray, np.ndarray | None] | TypeError | ValueError] = []
        for stacks, description in queries:
            try:
                check_frame_stacks(stacks, self.frame_size, what)
                text = None
                if self.modality == "FT":
                    text = self.text_vector(check_description(description, f"description of {what}"))
                checked.append((stacks, text))
            except (TypeError, ValueError) as error:
                checked.append(error)
        valid = [item for item in checked if isinstance(item, tuple)]
        if not valid:
            return checked  # type: ignore[return-value]
        codes = iter(self.autoencoder.encode_many([writeable(stacks) for stacks, _ in valid]))
        results: list[np.ndarray | TypeError | ValueError] = []
        for item in checked:
            if not isinstance(item, tuple):
                results.append(item)
                continue
            part, text = next(codes).astype(np.float32, copy=False), item[1]
            results.append(part if text is None else np.concatenate([part, np.broadcast_to(text, (len(part), len(text)))], axis=1))
        return results

    def text_vector(self, description: str) -> np.ndarray:
        """The description vector, (text_dim,) float32; cached by the text encoder."""
        if self.text_encoder is None:
            raise ValueError("this embedder has no text encoder (modality 'F'); build it with one to embed text")
        return self.text_encoder.embed([check_description(description)])[0].astype(np.float32)


class SimilarityIndex:
    """Every source's embedding rows, computed once, and the scores of a target against all of them."""

    def __init__(self, sources: Sequence[SourceTask], embedder: TaskEmbedder, metric: Metric = DEFAULT_METRIC) -> None:
        check_metric(metric)
        if not sources:
            raise ValueError("cannot build a similarity index: the repository has no entries (no source tasks)")
        names = [source.name for source in sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")
        self.embedder = embedder
        self.metric = metric
        self._names = names
        self._rows = [
            embedder.rows(source.frames, source.description, what=f"frames of source {source.name!r}")
            for source in sources
        ]
        self._pool = SourcePool(self._rows)
        counts = {source.name: len(source.frames) for source in sources}
        if len(set(counts.values())) > 1:
            logger.warning(
                "sources keep different numbers of frame stacks (%s): with a nearest-row metric the ones with "
                "more stacks have more chances to score high; re-record them alike (fast-rllib repo record)",
                ", ".join(f"{name}: {count}" for name, count in counts.items()),
            )

    @property
    def source_names(self) -> list[str]:
        return list(self._names)

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def source_rows(self, name: str) -> np.ndarray:
        try:
            return self._rows[self._names.index(name)]
        except ValueError:
            raise KeyError(f"unknown source {name!r}; sources: {', '.join(self._names)}") from None

    def scores(self, target_stacks: np.ndarray, target_description: str | None = None) -> dict[str, float]:
        """One score per source name for a target given as frame stacks (and description, for FT)."""
        rows = self.embedder.rows(target_stacks, target_description, what="target frame stacks")
        return self.scores_from_rows(rows)

    def scores_many(
        self, queries: Sequence[tuple[np.ndarray, str | None]]
    ) -> list[dict[str, float] | TypeError | ValueError]:
        """:meth:`scores` of several targets, embedded in one encoder pass; a bad query gets its exception in
        its place. Each is scored on its own, so every result equals that query's :meth:`scores`."""
        return [
            rows if isinstance(rows, Exception) else self.scores_from_rows(rows)
            for rows in self.embedder.rows_many(queries, what="target frame stacks")
        ]

    def scores_from_rows(self, target_rows: np.ndarray) -> dict[str, float]:
        """Scores for already embedded target rows (for callers that embed once and score with many metrics)."""
        values = self._pool.scores(np.asarray(target_rows), self.metric, self.embedder.feature_weights)
        return {name: float(value) for name, value in zip(self._names, values)}

    def score_matrix(self, targets: Mapping[str, tuple[np.ndarray, str | None]]) -> np.ndarray:
        """(len(targets), len(sources)) scores; ``targets`` maps a name to (stacks, description).

        Each target is its own query: the metrics' scaling is refitted per query, as at run time.
        """
        if not targets:
            raise ValueError("score_matrix needs at least one target")
        return np.array(
            [list(self.scores(stacks, description).values()) for stacks, description in targets.values()],
            dtype=np.float64,
        )

    def with_metric(self, metric: Metric) -> "SimilarityIndex":
        """The same embedded sources scored with another metric, without embedding them again."""
        check_metric(metric)
        clone = object.__new__(SimilarityIndex)
        clone.__dict__.update(self.__dict__, metric=metric)
        return clone
