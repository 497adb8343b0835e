"""Measuring a source's transfer record: driving it zero-shot on the reference tracks beside the lane
follower (see :mod:`fast_rllib.repository.transfer_record` for what the record is and why)."""

from __future__ import annotations

from typing import Mapping, Sequence

from ray.rllib.core.rl_module.rl_module import RLModule

from fast_rllib.build.evaluation import mean_return, module_policy, run_episodes
from fast_rllib.repository.layout import action_mode_for
from fast_rllib.repository.transfer_record import REFERENCE_EPISODE_SEED, REFERENCE_EPISODES, TransferRecord
from fast_rllib.tasks.controller import LaneFollowingController


def measure_transfer_records(
    modules: Mapping[str, RLModule], tracks: Sequence[str], episodes: int = REFERENCE_EPISODES,
    seed: int = REFERENCE_EPISODE_SEED,
) -> dict[str, TransferRecord]:
    """Each module's record over ``tracks``, against the lane follower in the module's own action mode (a
    discrete source against the discrete lane follower); it drives each track once per mode."""
    def track_return(track: str, policy, action_mode: str) -> float:
        return mean_return(
            run_episodes(track, policy, episodes=episodes, seed=seed, frame_size=None, action_mode=action_mode)
        )

    lane_follower: dict[tuple[str, str], float] = {}
    records = {}
    for name, module in modules.items():
        mode = action_mode_for(module.action_space)
        for track in tracks:
            if (track, mode) not in lane_follower:
                lane_follower[track, mode] = track_return(track, LaneFollowingController(mode), mode)
        policy = module_policy(module)
        shares = [track_return(track, policy, mode) / lane_follower[track, mode] for track in tracks]
        records[name] = TransferRecord(float(sum(shares) / len(shares)), tuple(tracks), episodes, seed)
    return records

