"""Task embeddings have the promised shapes, reject bad inputs by name, and rank a target's own frames first."""

from __future__ import annotations

import numpy as np
import pytest

from fast_rllib.embedding.autoencoder import AutoencoderConfig, FrameAutoencoder
from fast_rllib.build.autoencoder_training import TrainingSettings, train_autoencoder
from fast_rllib.build.frame_collection import collect_frame_stacks
from fast_rllib.embedding.similarity import METRICS
from fast_rllib.embedding.task_embedding import SimilarityIndex, TaskEmbedder
from fast_rllib.repository import SourceTask
from fast_rllib.embedding.text import TextEncoder
from fast_rllib.tasks import TASKS
from fast_rllib.tasks.controller import LaneFollowingController

FRAME_SIZE = 32
CODE_DIM = 16
TASK_IDS = ("fast/racetrack-v0", "fast/highway-v0", "fast/roundabout-v0")


@pytest.fixture(scope="module")
def frames() -> dict[str, np.ndarray]:
    return {
        task_id: collect_frame_stacks(task_id, 8, FRAME_SIZE, LaneFollowingController(), stride=4, seed=index)
        for index, task_id in enumerate(TASK_IDS)
    }


@pytest.fixture(scope="module")
def autoencoder(frames: dict[str, np.ndarray]) -> FrameAutoencoder:
    settings = TrainingSettings(max_epochs=40, patience=40, batch_size=8, learning_rate=2e-3)
    model, report = train_autoencoder(np.concatenate(list(frames.values())), AutoencoderConfig(FRAME_SIZE, CODE_DIM), settings)
    # An autoencoder no better than the mean frame gives near-constant codes, and no metric can rank
    # anything with those: fail here, with the reason, rather than in a ranking test.
    assert report.validation_mse < report.mean_frame_mse, report
    return model


@pytest.fixture(scope="module")
def text_encoder() -> TextEncoder:
    return TextEncoder()


@pytest.fixture(scope="module")
def sources(frames: dict[str, np.ndarray]) -> list[SourceTask]:
    return [SourceTask(task_id, stacks, TASKS[task_id].description) for task_id, stacks in frames.items()]


def test_f_rows_are_frame_codes(autoencoder: FrameAutoencoder, frames) -> None:
    rows = TaskEmbedder(autoencoder, modality="F").rows(frames["fast/racetrack-v0"], None)
    assert rows.shape == (8, CODE_DIM) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows, autoencoder.encode(frames["fast/racetrack-v0"]))


def test_ft_rows_put_the_text_vector_beside_every_code(autoencoder, text_encoder, frames) -> None:
    description = TASKS["fast/racetrack-v0"].description
    embedder = TaskEmbedder(autoencoder, text_encoder, "FT", text_weight=0.5)
    rows = embedder.rows(frames["fast/racetrack-v0"], description)
    assert embedder.dim == CODE_DIM + text_encoder.dim == rows.shape[1]
    assert rows.shape == (8, CODE_DIM + 384) and rows.dtype == np.float32
    text = text_encoder.embed([description])[0]
    for row in rows:
        np.testing.assert_allclose(row[CODE_DIM:], text, rtol=1e-6)
    np.testing.assert_array_equal(embedder.feature_weights, [1.0] * CODE_DIM + [0.5] * 384)


def test_bad_stacks_are_named(autoencoder: FrameAutoencoder) -> None:
    embedder = TaskEmbedder(autoencoder)
    with pytest.raises(ValueError, match=r"got shape \(2, 4, 32, 32\) dtype float32"):
        embedder.rows(np.zeros((2, 4, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"must be \(N >= 1, 4, 32, 32\) uint8, got shape \(4, 32, 32\)"):
        embedder.rows(np.zeros((4, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"got shape \(0, 4, 32, 32\)"):
        embedder.rows(np.zeros((0, 4, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"got shape \(1, 4, 96, 96\): the autoencoder was built for 32x32"):
        embedder.rows(np.zeros((1, 4, 96, 96), np.uint8))
    with pytest.raises(TypeError, match="frame stacks must be a numpy array, got list"):
        embedder.rows([[0]])


def test_bad_text_settings_are_named(autoencoder, text_encoder, frames) -> None:
    with pytest.raises(ValueError, match="modality='FT' needs a text encoder"):
        TaskEmbedder(autoencoder, None, "FT")
    with pytest.raises(ValueError, match=r"modality='T' is not supported; allowed values: F, FT"):
        TaskEmbedder(autoencoder, text_encoder, "T")
    with pytest.raises(ValueError, match=r"text_weight=-1.0 must be a finite number >= 0"):
        TaskEmbedder(autoencoder, text_encoder, "FT", text_weight=-1.0)
    embedder = TaskEmbedder(autoencoder, text_encoder, "FT")
    with pytest.raises(ValueError, match=r"description of target frame stacks ' ' is empty"):
        embedder.rows(frames["fast/highway-v0"], " ", what="target frame stacks")
    with pytest.raises(ValueError, match=r"description of frame stacks None is empty"):
        embedder.rows(frames["fast/highway-v0"], None)


def test_source_task_checks_its_frames() -> None:
    with pytest.raises(ValueError, match=r"frames of source 'bad' must be .* got shape \(3, 32, 32\) dtype uint8"):
        SourceTask("bad", np.zeros((3, 32, 32), np.uint8), "text")


def test_empty_repository_is_named(autoencoder: FrameAutoencoder) -> None:
    with pytest.raises(ValueError, match="the repository has no entries"):
        SimilarityIndex([], TaskEmbedder(autoencoder))


def test_duplicate_source_names_are_named(autoencoder, sources) -> None:
    with pytest.raises(ValueError, match="repeated: fast/highway-v0"):
        SimilarityIndex([sources[0], sources[1], sources[1]], TaskEmbedder(autoencoder))


@pytest.mark.parametrize("modality", ["F", "FT"])
@pytest.mark.parametrize("metric", METRICS)
def test_a_source_made_of_the_targets_own_frames_ranks_first(autoencoder, text_encoder, sources, modality, metric) -> None:
    embedder = TaskEmbedder(autoencoder, text_encoder if modality == "FT" else None, modality)
    index = SimilarityIndex(sources, embedder, metric)
    for source in sources:
        scores = index.scores(source.frames[:3], source.description)
        assert list(scores) == [s.name for s in sources]
        assert all(isinstance(value, float) and np.isfinite(value) for value in scores.values())
        assert max(scores, key=scores.get) == source.name, (metric, modality, scores)


def test_sources_are_embedded_once(autoencoder, sources, monkeypatch) -> None:
    embedder = TaskEmbedder(autoencoder)
    index = SimilarityIndex(sources, embedder, "rbf")
    calls = []
    original = autoencoder.encode_many
    monkeypatch.setattr(autoencoder, "encode_many", lambda groups: calls.append([len(g) for g in groups]) or original(groups))
    index.scores(sources[0].frames[:1])
    index.with_metric("standardized_cosine").scores(sources[0].frames[:1])
    index.scores_many([(sources[0].frames[:1], None), (sources[1].frames[:2], None)])
    assert calls == [[1], [1], [1, 2]]


def test_score_matrix_has_one_row_per_target(autoencoder, sources) -> None:
    index = SimilarityIndex(sources, TaskEmbedder(autoencoder), "standardized_cosine")
    matrix = index.score_matrix({source.name: (source.frames[:2], None) for source in sources})
    assert matrix.shape == (3, 3)
    assert (matrix.argmax(axis=1) == np.arange(3)).all()
