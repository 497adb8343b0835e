"""Which candidate ratio? Racing and non-racing candidates per ratio, on the catalogue's own targets.

Usage:
    python benchmarks/candidate_ratio.py    # reads benchmarks/results/similarity_zoo/scores.parquet

FAST's default rule makes a source a candidate when ``(score - lowest) / (highest - lowest)`` reaches
``candidate_ratio``. This reads the score matrix of ``benchmarks/similarity_matrix.py`` (FAST's 8-stack
window queries, the default metric) for the catalogue's racing targets that are *not* held out, leaves
out each target's own source (a new target has none), and reports, per ratio and modality, the share of
racing and of non-racing sources that are candidates. The held-out targets and the generated validation
tracks are not read: they judge the default, they do not choose it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from fast_rllib.atomic_write import write_json_atomically

RESULTS = Path(__file__).parent / "results"
RATIOS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def candidate_shares(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    chosen = scores[
        (scores.metric == metric) & ~scores.held_out & (scores.source_task != scores.target) & (scores["query"] == "window")
    ]
    rows = []
    for modality, part in chosen.groupby("modality"):
        for ratio in RATIOS:
            racing, other = [], []
            for _, window in part.groupby(["target", "query_index"]):
                low, high = window.score.min(), window.score.max()
                candidate = (window.score - low) / (high - low) >= ratio
                racing.append(candidate[window.source_kind == "racing"].mean())
                other.append(candidate[window.source_kind != "racing"].mean())
            rows.append({
                "modality": modality, "candidate_ratio": ratio, "targets": part.target.nunique(),
                "racing_candidates": float(np.mean(racing)), "non_racing_candidates": float(np.mean(other)),
            })
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores", type=Path, default=RESULTS / "similarity_zoo" / "scores.parquet")
    parser.add_argument("--metric", default="nearest_cosine")
    parser.add_argument("--out", type=Path, default=RESULTS / "candidate_ratio.json")
    args = parser.parse_args()
    shares = candidate_shares(pd.read_parquet(args.scores), args.metric)
    write_json_atomically(args.out, shares.to_dict("records"), indent=2)
    print(shares.to_string(index=False, float_format=lambda value: f"{value:.2f}"))


if __name__ == "__main__":
    main()
