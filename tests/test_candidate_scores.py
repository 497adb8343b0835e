"""The default rule proposes and orders candidates by the sources' transfer records when asked: no service
query, the record order decides the first trial, and a repository without records is named before any run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import ray
from tiny_repository import tiny_fast_config

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
    settings = {"selection_rule": "bandit", "candidate_score": "transfer_record", **training}
    return tiny_fast_config(repository, similarity_service_name="fast_record_test_service", **settings)


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"candidate_score": "likeness"}, "candidate_score='likeness' is not supported; allowed values: similarity, transfer_record"),
        ({"selection_rule": "paper"}, "candidate_score='transfer_record' orders the default rule's candidates; selection_rule='paper'"),
    ],
)
def test_bad_candidate_scores_are_named(recorded: Path, training: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        record_config(recorded, **training).validate()


def test_a_repository_without_records_is_named_with_the_command_that_fixes_it(repository: Path) -> None:
    names = SourceRepository.load(repository).names
    with pytest.raises(ValueError, match=rf"have none: run `fast-rllib repo measure-transfer --repository") as error:
        record_config(repository).validate()
    assert all(repr(name) in str(error.value) for name in names)


@pytest.mark.slow
def test_the_best_record_is_tried_first_and_no_service_is_queried(recorded: Path, ray_session) -> None:
    algo = record_config(recorded).build_algo()
    try:
        while algo.selector.state.decisions == 0:
            result = algo.train()
        assert algo.similarity is None
        assert not any(actor["name"].startswith("fast_record_test_service") for actor in ray.util.list_named_actors(all_namespaces=True))
        assert algo.selector.state.scores == RECORDS
        assert algo.behaviour == "highway-v0" != TARGET
        assert result["fast"]["score"] == pytest.approx(RECORDS)
        assert "service_latency_ms" not in result["fast"]
    finally:
        algo.stop()
