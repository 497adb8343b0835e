"""Transferability (transfer record plus weighted likeness) proposes and orders the default rule's candidates
when asked, and a repository without records is named before any run."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

import pytest
from tiny_repository import tiny_fast_config

from fast_rllib.fast.candidate_scores import SIMILARITY_WEIGHT, transfer_records

from fast_rllib.fast.selection import TARGET
from fast_rllib.repository import SourceRepository
from fast_rllib.repository.transfer_record import TransferRecord, reference_tracks
from fast_rllib.repository.writing import store_transfer_record

# Records written as data: the test needs an order unlike the similarity scores', not a measurement.
RECORDS = {"highway-v0": 0.9, "racetrack-oval-v0": 0.1}


@pytest.fixture
def recorded(repository: Path, tmp_path: Path) -> Path:
    root = tmp_path / "recorded"
    shutil.copytree(repository, root)
    for name, share in RECORDS.items():
        store_transfer_record(root, name, TransferRecord(share, reference_tracks(1), episodes=1, seed=0))
    return root


def record_config(repository: Path, **training):
    settings = {"selection_rule": "bandit", "candidate_score": "transferability", **training}
    return tiny_fast_config(repository, similarity_service_name="fast_record_test_service", **settings)


def test_a_bad_candidate_score_is_named(recorded: Path) -> None:
    message = "candidate_score='likeness' is not supported; allowed values: similarity, transferability"
    with pytest.raises(ValueError, match=message):
        record_config(recorded, candidate_score="likeness").validate()


def test_without_records_the_decision_falls_back_to_likeness_and_says_which_entries(repository: Path, caplog) -> None:
    names = SourceRepository.load(repository).names
    with caplog.at_level(logging.WARNING, logger="fast_rllib.fast.driver_checks"):
        record_config(repository).validate()
    (warning,) = [record.getMessage() for record in caplog.records if "transfer record" in record.getMessage()]
    assert all(repr(name) in warning for name in names)
    assert "run `fast-rllib repo measure-transfer --repository" in warning
    assert transfer_records(SourceRepository.load(repository)) is None


@pytest.mark.slow
def test_the_most_transferable_source_is_tried_first(recorded: Path, ray_session) -> None:
    algo = record_config(recorded, similarity_target_stacks=1).build_algo()
    try:
        while algo.selector.state.decisions == 0:
            result = algo.train()
        similarity, _ = algo.similarity.scores(np.stack(algo._target_stacks), algo.config.resolved_target_description)
        expected = {name: RECORDS[name] + SIMILARITY_WEIGHT * score for name, score in similarity.items()}
        assert algo.selector.state.scores == pytest.approx(expected)
        assert result["fast"]["score"] == pytest.approx(expected)
        assert algo.behaviour == "highway-v0" != TARGET  # the better record, whatever the likeness
    finally:
        algo.stop()


def test_the_similarity_weight_is_the_one_fitted_on_the_fit_split() -> None:
    weights = Path(__file__).parents[1] / "benchmarks" / "results" / "transferability" / "weights.json"
    assert SIMILARITY_WEIGHT == json.loads(weights.read_text())["similarity_weight"]
