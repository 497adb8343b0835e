"""The BERT text encoder loads offline from the wheel-shipped model and embeds descriptions."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from fast_rllib.embedding.text import TextEncoder, default_model_dir


@pytest.fixture(scope="module")
def no_network():
    """Any attempt to open a network connection fails the test instead of silently downloading."""
    original = socket.socket.connect

    def refuse(self, address):
        raise AssertionError(f"the text encoder tried to reach the network: {address!r}")

    socket.socket.connect = refuse
    yield
    socket.socket.connect = original


@pytest.fixture(scope="module")
def encoder(no_network) -> TextEncoder:
    return TextEncoder()


def test_default_model_is_the_wheel_shipped_bert(encoder: TextEncoder) -> None:
    assert encoder.model_dir == default_model_dir()
    assert type(encoder.model).__name__ == "BertModel"
    assert encoder.dim == 384


def test_embeddings_are_deterministic_and_cached(encoder: TextEncoder) -> None:
    text = "The ego-vehicle is driving on an oval. The agent's objective is to follow it."
    first = encoder.embed([text])
    second = encoder.embed([text, text])
    assert first.shape == (1, 384) and first.dtype == np.float32
    np.testing.assert_array_equal(second[0], first[0])
    np.testing.assert_array_equal(second[1], first[0])


def test_similar_descriptions_are_closer_than_unrelated_ones(encoder: TextEncoder) -> None:
    oval, racetrack, kitchen = encoder.embed([
        "The ego-vehicle is driving on an oval racing track with two straights and two bends.",
        "The ego-vehicle is driving on a racetrack with straights and tight bends.",
        "A recipe for bread: mix flour, water, salt and yeast, then bake for forty minutes.",
    ])

    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    assert cosine(oval, racetrack) > cosine(oval, kitchen)


def test_mean_pooling_differs_from_cls(no_network) -> None:
    text = ["The ego-vehicle is driving on a highway."]
    assert not np.allclose(TextEncoder(pooling="mean").embed(text), TextEncoder(pooling="cls").embed(text))


def test_empty_description_is_rejected(encoder: TextEncoder) -> None:
    with pytest.raises(ValueError, match="task description '  ' is empty"):
        encoder.embed(["  "])


def test_over_long_description_is_rejected(encoder: TextEncoder) -> None:
    with pytest.raises(ValueError, match=r"over the text model's limit of 512"):
        encoder.embed(["lane " * 600])


def test_missing_model_directory_is_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=f"text model directory '{tmp_path}' has no config.json"):
        TextEncoder(tmp_path)


def test_unknown_pooling_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"pooling='max' is not supported; allowed values: cls, mean"):
        TextEncoder(pooling="max")
