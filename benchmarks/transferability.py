"""Which score predicts how well a source drives a new track? Every candidate, fitted and chosen on the fit
split, judged on the judge split.

Usage:
    python benchmarks/transferability.py      # after transfer_table.py and transfer_scores.py

Data: ``benchmarks/results/transfer_scores/rows.parquet`` (each source's inputs on each track beside its
zero-shot share of the lane follower). Fit split: the catalogue tracks and generated tracks 0-49; judge
split: generated tracks 50-99 and the held-out targets (Indiana, complex). Candidates:

- ``cosine F`` and ``cosine FT``: the paper's similarity (FAST's score today);
- ``confidence``: minus the source actor's mean log standard deviation on the target's observations
  (a source-model-on-target-data estimator);
- ``transfer record``: the source's mean share of the lane follower over reference tracks (generated
  10-19, in the fit split), measured once when the source enters the repository and stored in its
  source.json (``fast-rllib repo measure-transfer``);
- ``fitted, every input``: least squares of the share on all four, fitted on the fit split (without the
  generated tracks 0-3, targets of the transfer benchmark);
- ``transferability`` (FAST's ``candidate_score="transferability"``): the transfer record plus a weight
  times cosine FT, the weight from the least squares of the share on those two over the fit split
  (written to ``weights.json``; the package's constant must match it).

Per track, over all sources and over the racing sources: Spearman's rho between score and zero-shot
return, and whether the top-scored source drives within 10 % of the best source's zero-shot return.
Writes ``benchmarks/results/transferability/{candidates.parquet,summary.md,weights.json,spearman.png}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from fast_rllib.atomic_write import write_atomically, write_json_atomically, write_text_atomically
from fast_rllib.fast.candidate_scores import SIMILARITY_WEIGHT, missing_records_warning, transfer_records
from fast_rllib.build.scoring import spearman_rho
from fast_rllib.repository import DEFAULT_REPOSITORY, SourceRepository
from fast_rllib.tasks import get_task
from fast_rllib.tasks.generated import generated_task_id
from fast_rllib.tasks.rendering import save_figure

ROWS = Path(__file__).parent / "results" / "transfer_scores" / "rows.parquet"
OUT = Path(__file__).parent / "results" / "transferability"
NEAR_BEST = 0.9
# Generated tracks of the fit split that are targets of the transfer benchmark's profiles, which judge FAST's
# defaults: no weight is fitted on them.
BENCHMARK_TARGETS = tuple(generated_task_id(seed) for seed in range(4))
FEATURES = ("cosine F", "cosine FT", "confidence", "transfer record")


def least_squares(rows: pd.DataFrame, features: Sequence[str]) -> dict[str, float]:
    """Coefficients (and intercept) of the share of the lane follower on ``features``, over ``rows``."""
    design = np.column_stack([rows[list(features)].to_numpy(), np.ones(len(rows))])
    coefficients, *_ = np.linalg.lstsq(design, rows.of_lane_follower.to_numpy(), rcond=None)
    return dict(zip((*features, "intercept"), coefficients.tolist()))


def predict(rows: pd.DataFrame, coefficients: dict[str, float]) -> pd.Series:
    return sum(value * (1.0 if name == "intercept" else rows[name]) for name, value in coefficients.items())


def with_candidates(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with one column per candidate score; the fitted ones are fitted on the fit split only."""
    rows = rows.copy()
    rows["cosine F"], rows["cosine FT"], rows["confidence"] = rows.score_F, rows.score_FT, -rows.log_std
    rows["transfer record"] = zoo_transfer_records(rows)
    fit = rows[(rows.split == "fit") & ~rows.track.isin(BENCHMARK_TARGETS)]
    every_input = least_squares(fit, FEATURES)
    rows["fitted, every input"] = predict(rows, every_input)
    record_and_likeness = least_squares(fit, ("transfer record", "cosine FT"))
    similarity_weight = record_and_likeness["cosine FT"] / record_and_likeness["transfer record"]
    rows["transferability"] = rows["transfer record"] + SIMILARITY_WEIGHT * rows["cosine FT"]
    rows.attrs["fits"] = {
        "every input": every_input, "record and FT": record_and_likeness, "similarity_weight": similarity_weight,
    }
    return rows


def zoo_transfer_records(rows: pd.DataFrame) -> pd.Series:
    """Each source's stored transfer record (the shipped zoo's source.json, written by
    ``fast-rllib repo measure-transfer`` on reference tracks of the fit split), read as FAST reads it."""
    repository = SourceRepository.load(DEFAULT_REPOSITORY)
    records = transfer_records(repository)
    if records is None:
        raise SystemExit(f"error: {missing_records_warning(repository)}")
    return rows.policy.map(records)


def judged(rows: pd.DataFrame, candidates: list[str]) -> pd.DataFrame:
    """One row per (track, candidate): Spearman over all and racing sources, and top-1 near the best."""
    racing = rows.policy.map(lambda name: get_task(name_to_task(name)).kind == "racing")
    records = []
    for (track, split), group in rows.groupby(["track", "split"]):
        best = group.return_mean.max()
        for candidate in candidates:
            top = group.loc[group[candidate].idxmax()]
            racing_group = group[racing[group.index]]
            records.append({
                "track": track, "split": split, "candidate": candidate,
                "spearman_all": spearman_rho(group[candidate], group.return_mean),
                "spearman_racing": spearman_rho(racing_group[candidate], racing_group.return_mean),
                "top_near_best": bool(top.return_mean >= NEAR_BEST * best),
                "top_source": top.policy,
            })
    return pd.DataFrame(records)


def name_to_task(name: str) -> str:
    """The zoo names each source after its task: ``chicane-v0`` drove ``fast/chicane-v0``."""
    return f"fast/{name}"


def summary_table(per_track: pd.DataFrame, fits: dict) -> str:
    lines = [
        "| candidate | split | tracks | median rho, all sources | median rho, racing sources | top-scored within 10 % of the best | Indiana | complex |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for (candidate, split), group in per_track.groupby(["candidate", "split"], sort=False):
        held_out = {
            track: ("near best" if row.top_near_best else f"no ({row.top_source})")
            for track, row in group.set_index("track").iterrows() if track in ("fast/indiana-v0", "fast/complex-v0")
        }
        lines.append(
            f"| {candidate} | {split} | {len(group)} | {group.spearman_all.median():+.2f} | "
            f"{group.spearman_racing.median():+.2f} | {group.top_near_best.mean():.0%} | "
            f"{held_out.get('fast/indiana-v0', '')} | {held_out.get('fast/complex-v0', '')} |"
        )
    def terms(coefficients: dict[str, float]) -> str:
        return ", ".join(f"{name} {value:+.3f}" for name, value in coefficients.items())

    return "\n".join(lines) + (
        "\n\nLeast squares of the share of the lane follower on the fit split: every input: "
        f"{terms(fits['every input'])}; record and FT: {terms(fits['record and FT'])}, so FT's weight against "
        f"the record is {fits['similarity_weight']:.3f} (FAST's `transferability` uses {SIMILARITY_WEIGHT}).\n"
    )


def plot_spearman(per_track: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    judge = per_track[per_track.split == "judge"]
    candidates = list(dict.fromkeys(judge.candidate))
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.boxplot([judge[judge.candidate == name].spearman_all.dropna() for name in candidates], tick_labels=candidates)
    axis.axhline(0.7, color="grey", linestyle="--", linewidth=1, label="goal, all sources")
    axis.set_ylabel("Spearman rho, score vs zero-shot return")
    axis.set_title(f"Judge split: {judge.track.nunique()} tracks, 8 zoo sources each")
    axis.legend()
    save_figure(figure, path, dpi=110)


def main() -> None:
    import fast_rllib  # noqa: F401  (task ids for get_task)

    rows = with_candidates(pd.read_parquet(ROWS))
    candidates = [*FEATURES, "fitted, every input", "transferability"]
    per_track = judged(rows, candidates)
    write_atomically(OUT / "candidates.parquet", per_track.to_parquet)
    fits = rows.attrs["fits"]
    write_json_atomically(OUT / "weights.json", {**fits, "similarity_weight": round(fits["similarity_weight"], 2)})
    table = summary_table(per_track, fits)
    write_text_atomically(OUT / "summary.md", table)
    plot_spearman(per_track, OUT / "spearman.png")
    print(table)


if __name__ == "__main__":
    main()
