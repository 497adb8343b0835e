"""A source's transfer record: how well it drives tracks it was never trained on, measured once, when it is
added, and kept in its ``source.json``.

Why: likeness of frames and text does not tell which source will drive a new track (the paper's cosine
ranks the sources against their zero-shot returns at about chance on generated tracks), while a
source's measured generality does (``benchmarks/results/transferability/summary.md``). The record is
the source's mean return as a share of the lane follower's, over the same generated reference tracks and
fixed episodes for every source, so that records of one repository compare. Reference tracks are
generated seeds 10-19: inside the fit split (0-49) of the transfer table, so no track that judges a score
is a reference track, and none of them a target of the transfer benchmark's profiles (generated 0-3 and
2026-2028), so no record has seen a track FAST is judged on.

An entry written before records existed has none and still loads; FAST then ranks by likeness alone
(see :mod:`fast_rllib.fast.candidate_scores`). Measuring a record is build work:
:mod:`fast_rllib.build.transfer_measurement`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from fast_rllib.repository.layout import SOURCE_FILE, RepositoryError

TRANSFER_RECORD_KEY = "transfer_record"
REFERENCE_SEEDS = tuple(range(10, 20))
REFERENCE_EPISODES, REFERENCE_EPISODE_SEED = 5, 3000


@dataclass(frozen=True)
class TransferRecord:
    """Mean zero-shot return share of the lane follower over ``tracks`` (``episodes`` each from ``seed``)."""

    share_of_lane_follower: float
    tracks: tuple[str, ...]
    episodes: int
    seed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "share_of_lane_follower": self.share_of_lane_follower, "tracks": list(self.tracks),
            "episodes": self.episodes, "seed": self.seed,
        }

    @classmethod
    def from_json(cls, data: Any, entry: str, path: Path) -> "TransferRecord":
        """Parse ``source.json``'s record, naming the entry and key when it is malformed."""
        def fail(reason: str) -> RepositoryError:
            return RepositoryError.for_entry(entry, path, f"{SOURCE_FILE} key {TRANSFER_RECORD_KEY!r}: {reason}")

        if not isinstance(data, Mapping):
            raise fail(f"must be an object, got {type(data).__name__}")
        share = data.get("share_of_lane_follower")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not math.isfinite(share):
            raise fail(f"share_of_lane_follower must be a finite number, got {share!r}")
        tracks = data.get("tracks")
        if not isinstance(tracks, list) or not tracks or not all(isinstance(track, str) for track in tracks):
            raise fail(f"tracks must be a non-empty list of task ids, got {tracks!r}")
        episodes, seed = data.get("episodes"), data.get("seed")
        if not isinstance(episodes, int) or episodes < 1 or not isinstance(seed, int):
            raise fail(f"episodes must be a positive integer and seed an integer, got {episodes!r} and {seed!r}")
        return cls(float(share), tuple(tracks), episodes, seed)


def reference_tracks(count: int = len(REFERENCE_SEEDS)) -> tuple[str, ...]:
    """The first ``count`` reference tracks."""
    from fast_rllib.tasks.generated import generated_task_id

    if not 1 <= count <= len(REFERENCE_SEEDS):
        raise ValueError(f"tracks={count!r} must be within [1, {len(REFERENCE_SEEDS)}]")
    return tuple(generated_task_id(seed) for seed in REFERENCE_SEEDS[:count])
