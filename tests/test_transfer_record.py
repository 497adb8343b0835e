"""A source's transfer record: measured by driving, stored in source.json without touching the module,
checked on load, optional for old entries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from directory_digest import tree_digest

from fast_rllib.build.evaluation import mean_return, module_policy, run_episodes
from fast_rllib.commands.fast_rllib_cli import main
from fast_rllib.repository import RepositoryError, SourceRepository
from fast_rllib.repository.transfer_record import REFERENCE_EPISODE_SEED, TRANSFER_RECORD_KEY, reference_tracks
from fast_rllib.tasks.controller import LaneFollowingController


@pytest.fixture
def copied(repository: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(repository, root)
    return root


def test_entries_without_a_record_load_and_have_none(repository: Path) -> None:
    assert all(entry.transfer_record is None for entry in SourceRepository.load(repository))


def test_the_measured_record_is_the_return_share_and_only_source_json_changes(copied: Path, capsys) -> None:
    before = SourceRepository.load(copied)
    name = before.names[0]
    untouched = {key: value for key, value in tree_digest(copied).items() if not key.endswith("source.json")}

    main(["repo", "measure-transfer", name, "--repository", str(copied), "--tracks", "1", "--episodes", "1"])

    assert f"{name}: " in capsys.readouterr().out
    assert {key: value for key, value in tree_digest(copied).items() if not key.endswith("source.json")} == untouched
    after = SourceRepository.load(copied)
    record = after[name].transfer_record
    (track,) = reference_tracks(1)
    assert record.tracks == (track,) and record.episodes == 1 and record.seed == REFERENCE_EPISODE_SEED

    def share(policy) -> float:
        return mean_return(run_episodes(track, policy, episodes=1, seed=REFERENCE_EPISODE_SEED, frame_size=None))

    expected = share(module_policy(before[name].load_module())) / share(LaneFollowingController())
    assert record.share_of_lane_follower == pytest.approx(expected)
    assert {key: value for key, value in after[name].info.items() if key != TRANSFER_RECORD_KEY} == before[name].info
    assert after[after.names[1]].transfer_record is None  # only the named entry was measured


@pytest.mark.parametrize(
    "record, fault",
    [
        ({"share_of_lane_follower": "high", "tracks": ["fast/generated-0-v0"], "episodes": 5, "seed": 3000}, "share_of_lane_follower"),
        ({"share_of_lane_follower": 0.5, "tracks": [], "episodes": 5, "seed": 3000}, "tracks"),
        ({"share_of_lane_follower": 0.5, "tracks": ["fast/generated-0-v0"], "episodes": 0, "seed": 3000}, "episodes"),
        ([0.5], "must be an object"),
    ],
)
def test_a_malformed_record_is_named_when_the_repository_loads(copied: Path, record, fault: str) -> None:
    name = SourceRepository.load(copied).names[0]
    source_json = copied / name / "source.json"
    source_json.write_text(json.dumps({**json.loads(source_json.read_text()), TRANSFER_RECORD_KEY: record}))
    with pytest.raises(RepositoryError, match=f"source entry '{name}' .*'{TRANSFER_RECORD_KEY}'.*{fault}"):
        SourceRepository.load(copied)


def test_measuring_an_unknown_source_or_too_many_tracks_is_refused_before_any_driving(copied: Path) -> None:
    digest = tree_digest(copied)
    with pytest.raises(SystemExit, match="no source\\(s\\) \\['nope'\\]"):
        main(["repo", "measure-transfer", "nope", "--repository", str(copied)])
    with pytest.raises(SystemExit, match="tracks=11 must be within \\[1, 10\\]"):
        main(["repo", "measure-transfer", "--repository", str(copied), "--tracks", "11"])
    assert tree_digest(copied) == digest
