"""The transfer table: how well every zoo source drives every catalogue track and generated track, zero-shot.

Usage:
    python benchmarks/transfer_table.py                         # catalogue + generated 0-99, resumable
    python benchmarks/transfer_table.py --generated 0 49        # a range of generated seeds only
    python benchmarks/transfer_table.py --report-only           # table and heatmap from the stored rows

What a transferability score is fitted to and judged by (issue 33): each source's frozen policy drives the
track alone, deterministic, on fixed episode seeds, beside the lane follower and a uniform random policy
on the same episodes. Every track is its own Parquet file under ``rows/`` (written when the track is done,
so an interrupted table resumes per track). ``table.parquet`` holds every row with the return as a share
of the lane follower's; ``heatmap.png`` shows the catalogue part. Generated seeds 0-49 are for fitting and
choosing, 50-99 and the held-out targets for judging: the split is recorded in the ``split`` column.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import fast_rllib  # noqa: F401  (task ids)
from fast_rllib.atomic_write import write_atomically
from fast_rllib.build.evaluation import mean_return, module_policy, random_policy, run_episodes
from fast_rllib.repository import DEFAULT_REPOSITORY, SourceRepository
from fast_rllib.tasks import HELD_OUT_TARGETS, make_task_env
from fast_rllib.tasks.catalogue import task_ids
from fast_rllib.tasks.controller import LaneFollowingController
from fast_rllib.tasks.generated import generated_task_id
from fast_rllib.tasks.rendering import save_figure

OUT = Path(__file__).parent / "results" / "transfer_table"
EPISODES, EPISODE_SEED = 5, 3000
LANE_FOLLOWER, RANDOM = "lane follower", "random"
FIT_GENERATED = range(0, 50)


def split_of(track: str) -> str:
    """"fit" (catalogue, generated 0-49) or "judge" (held-out targets, generated 50-99)."""
    if track in HELD_OUT_TARGETS:
        return "judge"
    if track.startswith("fast/generated-"):
        seed = int(track.removeprefix("fast/generated-").removesuffix("-v0"))
        return "fit" if seed in FIT_GENERATED else "judge"
    return "fit"


def track_rows(track: str, repository: SourceRepository) -> pd.DataFrame:
    """Zero-shot return of every source, the lane follower and a random policy on ``track``."""
    env = make_task_env(track)
    policies = {
        LANE_FOLLOWER: LaneFollowingController(),
        RANDOM: random_policy(env.action_space, EPISODE_SEED),
        **{entry.name: module_policy(entry.load_module()) for entry in repository},
    }
    env.close()
    returns = {
        name: mean_return(run_episodes(track, policy, episodes=EPISODES, seed=EPISODE_SEED, frame_size=None))
        for name, policy in policies.items()
    }
    return pd.DataFrame(
        [{"track": track, "split": split_of(track), "policy": name, "return_mean": value} for name, value in returns.items()]
    )


def row_path(track: str) -> Path:
    return OUT / "rows" / f"{track.replace('/', '_')}.parquet"


def build(tracks: list[str]) -> None:
    repository = SourceRepository.load(DEFAULT_REPOSITORY)
    for number, track in enumerate(tracks, 1):
        if row_path(track).exists():
            continue
        rows = track_rows(track, repository)
        write_atomically(row_path(track), rows.to_parquet)
        best = rows[~rows.policy.isin([LANE_FOLLOWER, RANDOM])].sort_values("return_mean").iloc[-1]
        print(f"{number}/{len(tracks)} {track}: best source {best.policy} {best.return_mean:.1f}", flush=True)


def report() -> pd.DataFrame:
    rows = pd.concat([pd.read_parquet(path) for path in sorted((OUT / "rows").glob("*.parquet"))], ignore_index=True)
    lane = rows[rows.policy == LANE_FOLLOWER].set_index("track").return_mean
    rows["of_lane_follower"] = rows.return_mean / rows.track.map(lane)
    write_atomically(OUT / "table.parquet", rows.to_parquet)
    catalogue = rows[~rows.track.str.startswith("fast/generated-")]
    pivot = catalogue.pivot(index="policy", columns="track", values="of_lane_follower")
    plot_heatmap(pivot, OUT / "heatmap.png")
    print(pivot.round(2).to_string())
    return rows


def plot_heatmap(pivot: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(1.0 + 0.8 * len(pivot.columns), 1.0 + 0.45 * len(pivot.index)))
    image = axis.imshow(pivot.to_numpy(), cmap="viridis", vmin=0.0, vmax=1.2, aspect="auto")
    axis.set_xticks(np.arange(len(pivot.columns)), [name.removeprefix("fast/") for name in pivot.columns], rotation=60, ha="right")
    axis.set_yticks(np.arange(len(pivot.index)), pivot.index)
    for (row, column), value in np.ndenumerate(pivot.to_numpy()):
        axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.6 else "black")
    figure.colorbar(image, label="zero-shot return / lane follower's")
    axis.set_title(f"Zero-shot transfer, {EPISODES} fixed episodes per track")
    save_figure(figure, path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", nargs=2, type=int, default=(0, 99), metavar=("FIRST", "LAST"))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if not args.report_only:
        first, last = args.generated
        catalogue = task_ids()
        build(catalogue + [generated_task_id(seed) for seed in range(first, last + 1)])
    report()


if __name__ == "__main__":
    main()
