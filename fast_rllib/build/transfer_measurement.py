"""Measuring a source's transfer record: driving it zero-shot on the reference tracks beside the lane
follower (see :mod:`fast_rllib.repository.transfer_record` for what the record is and why)."""

from __future__ import annotations

from typing import Mapping, Sequence

from ray.rllib.core.rl_module.rl_module import RLModule

from fast_rllib.build.evaluation import mean_return, module_policy, run_episodes
from fast_rllib.repository.transfer_record import REFERENCE_EPISODE_SEED, REFERENCE_EPISODES, TransferRecord
from fast_rllib.tasks.controller import LaneFollowingController


def measure_transfer_records(
    modules: Mapping[str, RLModule], tracks: Sequence[str], episodes: int = REFERENCE_EPISODES,
    seed: int = REFERENCE_EPISODE_SEED,
) -> dict[str, TransferRecord]:
    """Each module's record over ``tracks``; the lane follower drives each track once for all of them."""
    def track_return(track: str, policy) -> float:
        return mean_return(run_episodes(track, policy, episodes=episodes, seed=seed, frame_size=None))

    lane_follower = {track: track_return(track, LaneFollowingController()) for track in tracks}
    records = {}
    for name, module in modules.items():
        policy = module_policy(module)
        shares = [track_return(track, policy) / lane_follower[track] for track in tracks]
        records[name] = TransferRecord(float(sum(shares) / len(shares)), tuple(tracks), episodes, seed)
    return records

