"""The frame autoencoder learns real frames better than the mean frame and survives a save/load."""

from __future__ import annotations

import numpy as np
import pytest

from fast_rllib.embedding.autoencoder import AutoencoderConfig, FrameAutoencoder
from fast_rllib.build.autoencoder_training import TrainingSettings, train_autoencoder
from fast_rllib.build.frame_collection import collect_frame_stacks

FRAME_SIZE = 32


@pytest.fixture(scope="module")
def stacks() -> np.ndarray:
    tracks = ("fast/racetrack-v0", "fast/racetrack-oval-v0", "fast/racetrack-large-v0")
    return np.concatenate([collect_frame_stacks(task, 24, FRAME_SIZE, stride=4, seed=i) for i, task in enumerate(tracks)])


@pytest.fixture(scope="module")
def trained(stacks: np.ndarray):
    settings = TrainingSettings(max_epochs=40, patience=40, batch_size=8, learning_rate=2e-3, seed=0)
    return train_autoencoder(stacks, AutoencoderConfig(frame_size=FRAME_SIZE, code_dim=32), settings)


def test_reconstruction_beats_the_mean_frame(trained) -> None:
    _, report = trained
    assert report.validation_stacks >= 10
    assert report.validation_mse < 0.95 * report.mean_frame_mse
    assert report.best_epoch >= 1


def test_save_and_load_round_trip(trained, stacks: np.ndarray, tmp_path) -> None:
    model, _ = trained
    model.save(tmp_path)
    loaded = FrameAutoencoder.load(tmp_path)
    np.testing.assert_array_equal(loaded.encode(stacks[:5]), model.encode(stacks[:5]))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["autoencoder.json", "autoencoder.pt"]


def test_codes_have_the_configured_size(trained, stacks: np.ndarray) -> None:
    model, _ = trained
    codes = model.encode(stacks[:3])
    assert codes.shape == (3, 32) and codes.dtype == np.float32


def test_wrong_shape_or_dtype_is_named(trained) -> None:
    model, _ = trained
    with pytest.raises(ValueError, match=r"expected uint8 frame stacks of shape \(N, 4, H, W\), got \(2, 4, 32, 32\) torch.float32"):
        model.encode(np.zeros((2, 4, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"expected uint8 frame stacks .* got \(2, 3, 32, 32\)"):
        model.encode(np.zeros((2, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"frame stacks are \(64, 64\) pixels but this autoencoder was built for 32x32"):
        model.encode(np.zeros((2, 4, 64, 64), np.uint8))


def test_missing_weights_are_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="has no autoencoder.pt"):
        FrameAutoencoder.load(tmp_path)


def test_bad_training_settings_are_named() -> None:
    with pytest.raises(ValueError, match=r"validation_fraction=1.0 must lie strictly between 0 and 1"):
        TrainingSettings(validation_fraction=1.0)


def test_catalogue_training_leaves_the_held_out_targets_out(monkeypatch, tmp_path) -> None:
    """An encoder trained on a held-out target's frames would have seen it; only an explicit list adds it."""
    import fast_rllib.build.catalogue_training as catalogue_training
    from fast_rllib.tasks import HELD_OUT_TARGETS, TASKS

    asked: list[list[str]] = []

    def record(frame_size, stacks_per_task, task_ids, seed, progress):
        asked.append(list(task_ids))
        raise RuntimeError("stop before driving")

    monkeypatch.setattr(catalogue_training, "collect_catalogue_stacks", record)
    for task_ids in (None, list(TASKS)):
        with pytest.raises(RuntimeError, match="stop before driving"):
            catalogue_training.train_catalogue_autoencoder(tmp_path, task_ids=task_ids)
    default, explicit = asked
    assert set(default) == set(TASKS) - set(HELD_OUT_TARGETS) and explicit == list(TASKS)
