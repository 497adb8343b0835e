"""Do the similarity defaults generalise? Scores of every zoo source on tracks nobody tuned on.

Usage:
    python benchmarks/generated_tracks.py --tracks 20        # generated seeds 0-19 plus the held-out targets

For each target (generated validation tracks ``fast/generated-<seed>-v0`` and, reported apart, the
catalogue's held-out targets) the target frames are captured twice, under a random policy (what an
untrained learner shows FAST) and under the lane follower, and scored against the shipped zoo with F
and FT and FASTConfig's defaults. Each source also drives the target zero-shot. Per group, frames and
modality the summary reports: how often every racing source outranks every non-racing one (separation),
how often a racing source ranks first, how often the best score reaches Θ, and the median Spearman rho
between score and zero-shot return across racing sources and across all sources.

One Parquet file per target under ``--out``/targets (an interrupted run resumes), then ``rows.parquet``,
``summary.json`` and ``table.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fast_rllib import FASTConfig
from fast_rllib.fast.config import PAPER_THRESHOLD
from fast_rllib.atomic_write import write_atomically, write_json_atomically, write_text_atomically
from fast_rllib.build.scoring import (
    LANE_FOLLOWER,
    MODALITIES,
    similarity_services,
    spearman_rho,
    target_stacks,
    zero_shot_returns,
)
from fast_rllib.repository import SourceRepository
from fast_rllib.tasks import HELD_OUT_TARGETS, get_task
from fast_rllib.tasks.generated import generated_task_id

DEFAULT_OUT = Path(__file__).parent / "results" / "generated_tracks"
FRAMES_FROM = ("random", "lane-follower")


def score_target(task_id: str, group: str, repository: SourceRepository, services, episodes: int, seed: int) -> pd.DataFrame:
    description = get_task(task_id).description
    returns = zero_shot_returns(task_id, repository, episodes)
    rows = []
    for frames_from in FRAMES_FROM:
        frames = target_stacks(task_id, frames_from, repository.frame_size, seed=seed)
        scores = {modality: service.scores(frames, description) for modality, service in services.items()}
        for entry in repository:
            rows.append({
                "target": task_id, "group": group, "frames_from": frames_from, "source": entry.name,
                "kind": get_task(entry.task_id).kind, "score_F": scores["F"][entry.name],
                "score_FT": scores["FT"][entry.name], "zero_shot": returns[entry.name],
                "lane_follower": returns[LANE_FOLLOWER],
            })
    return pd.DataFrame(rows)


def summarize(rows: pd.DataFrame, threshold: float) -> pd.DataFrame:
    summary = []
    for (group, frames_from), part in rows.groupby(["group", "frames_from"], sort=False):
        for modality in MODALITIES:
            column = f"score_{modality}"
            separated, racing_first, reached, rho_racing, rho_all, best_is_best = [], [], [], [], [], []
            for _, target in part.groupby("target"):
                racing, other = target[target.kind == "racing"], target[target.kind != "racing"]
                separated.append(racing[column].min() > other[column].max())
                top = target.loc[target[column].idxmax()]
                racing_first.append(top.kind == "racing")
                reached.append(top[column] >= threshold)
                rho_racing.append(spearman_rho(racing[column], racing.zero_shot))
                rho_all.append(spearman_rho(target[column], target.zero_shot))
                best_is_best.append(top.source == target.loc[target.zero_shot.idxmax()].source)
            summary.append({
                "group": group, "frames_from": frames_from, "modality": modality, "targets": len(separated),
                "separated": float(np.mean(separated)), "racing_first": float(np.mean(racing_first)),
                "theta_reached": float(np.mean(reached)),
                "median_rho_racing": float(np.nanmedian(rho_racing)), "median_rho_all": float(np.nanmedian(rho_all)),
                "top_score_is_best_driver": float(np.mean(best_is_best)),
            })
    return pd.DataFrame(summary)


def markdown_table(summary: pd.DataFrame, threshold: float) -> str:
    lines = [
        f"| targets | frames from | modality | n | racing sources all above non-racing | racing source first | best score >= Θ ({threshold}) | median rho, racing sources | median rho, all sources | top score = best zero-shot driver |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary.itertuples():
        lines.append(
            f"| {row.group} | {row.frames_from} | {row.modality} | {row.targets} | {row.separated:.0%} | "
            f"{row.racing_first:.0%} | {row.theta_reached:.0%} | {row.median_rho_racing:+.2f} | "
            f"{row.median_rho_all:+.2f} | {row.top_score_is_best_driver:.0%} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=20, help="generated validation tracks: seeds 0..N-1")
    parser.add_argument("--episodes", type=int, default=3, help="zero-shot episodes per source and target")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0, help="seed of the target frame captures")
    args = parser.parse_args()
    defaults = FASTConfig()
    repository = SourceRepository.load(defaults.resolved_repository_path)
    services = similarity_services(defaults.resolved_repository_path, defaults.similarity_metric, defaults.text_weight)
    targets = [(generated_task_id(seed), "generated") for seed in range(args.tracks)]
    targets += [(task_id, "held-out") for task_id in HELD_OUT_TARGETS]
    for task_id, group in targets:
        path = args.out / "targets" / f"{task_id.replace('/', '_')}.parquet"
        if path.exists():
            continue
        start = time.perf_counter()
        frame = score_target(task_id, group, repository, services, args.episodes, args.seed)
        write_atomically(path, frame.to_parquet)
        print(f"{task_id}: {time.perf_counter() - start:.0f} s", flush=True)
    rows = pd.concat([pd.read_parquet(path) for path in sorted((args.out / "targets").glob("*.parquet"))], ignore_index=True)
    rows = rows[rows.target.isin([task_id for task_id, _ in targets])]
    summary = summarize(rows, PAPER_THRESHOLD)
    write_atomically(args.out / "rows.parquet", rows.to_parquet)
    write_json_atomically(args.out / "summary.json", summary.to_dict("records"), indent=2)
    table = markdown_table(summary, PAPER_THRESHOLD)
    write_text_atomically(args.out / "table.md", table)
    print(table)


if __name__ == "__main__":
    main()
