"""The quality bar for similarity: seen from a racing target, every racing source must outscore every
non-racing one. A highway policy knows nothing about bends, so a setting that ranks it above a track
policy sends FAST's target down the wrong road. Shared by ``benchmarks/similarity_matrix.py`` (all
metrics, heatmaps) and the test that holds the shipped defaults to the bar.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from fast_rllib.build.frame_collection import collect_frame_stacks
from fast_rllib.tasks import task_ids
from fast_rllib.tasks.controller import LaneFollowingController

# Far from the seeds repository sources were recorded on (1000 onwards) and trained on (small integers).
TARGET_SEED = 50_000
# A target is three lane-follower episodes (150 steps each), one stack every 10 steps: straights and bends
# of the whole track, which is what FAST's decisions, K env steps apart, sample from.
TARGET_STACKS, TARGET_STRIDE = 45, 10


def racing_target_stacks(
    frame_size: int, stacks: int = TARGET_STACKS, stride: int = TARGET_STRIDE
) -> dict[str, np.ndarray]:
    """Every racing catalogue task (held-out ones included) driven by the lane follower: ``stacks``
    4-frame stacks ``stride`` steps apart, (stacks, 4, S, S) uint8 per task id."""
    return {
        task_id: collect_frame_stacks(
            task_id, stacks, frame_size, LaneFollowingController(), stride, seed=TARGET_SEED + index
        )
        for index, task_id in enumerate(task_ids("racing"))
    }


def window_draws(stacks: int, window: int, draws: int, seed: int = 0) -> list[np.ndarray]:
    """``draws`` sets of ``window`` stack indices out of ``stacks``, each in capture order: queries shaped
    like FAST's at run time, its latest ``similarity_target_stacks`` stacks from decisions far apart."""
    if not 1 <= window <= stacks:
        raise ValueError(f"window={window!r} must be between 1 and the {stacks} stacks captured")
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(stacks, window, replace=False)) for _ in range(draws)]


def separation_margin(scores: Mapping[str, float], kinds: Mapping[str, str]) -> float:
    """Lowest racing-source score minus highest non-racing-source score (> 0: separated); NaN when one
    of the two groups is empty, since there is then nothing to separate."""
    racing = [score for source, score in scores.items() if kinds[source] == "racing"]
    other = [score for source, score in scores.items() if kinds[source] != "racing"]
    return min(racing) - max(other) if racing and other else float("nan")
