"""Θ x K from a Tune sweep's result directory: a table (Markdown + Parquet) and a heatmap (PNG).

    python benchmarks/grid_report.py ~/fast_grid/<experiment> --out benchmarks/results/theta_k_grid

Reads every trial's ``params.json`` and ``result.json`` (Tune's own files) under the directory, takes the
``target_evaluation/return_mean`` the trials recorded (``tuned_examples/fast_racetrack_grid.py`` adds it
with ``fast_rllib.build.target_evaluation``), and computes, per trial, env steps to 80 % of the lane
follower's return on the same episodes and the final return, with the transfer benchmark's own code
(``transfer_report.summarize``); per cell of the grid, those over seeds. The lane follower's return is
cached in ``<out>/lane_follower.json``. Budget: the fewest env steps any trial reached, or ``--budget N``:
trials that have not reached N env steps yet (a sweep still running, or stopped) are left out by name.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

import transfer_report  # noqa: I001  (this folder's modules, found beside this script)
from transfer import lane_follower_returns

from fast_rllib.atomic_write import write_atomically, write_text_atomically
from fast_rllib.build.target_evaluation import RESULT_KEY
from fast_rllib.tasks.rendering import save_figure

STEPS_COLUMN = transfer_report.HEADLINE_COLUMN
# The grid's axes: Θ and K.
AXES = ("similarity_threshold", "similarity_interval")


def _method(threshold: float | None, interval: int) -> str:
    return f"theta={threshold} K={interval}"


def read_trials(experiment: Path) -> pd.DataFrame:
    """One row per evaluation of every trial under ``experiment``, in ``transfer_report``'s curve format
    plus the grid's axes."""
    rows = []
    for params_path in sorted(experiment.rglob("params.json")):
        params = json.loads(params_path.read_text())
        result_path = params_path.with_name("result.json")
        if not result_path.exists():
            continue
        for line in result_path.read_text().splitlines():
            result = json.loads(line)
            if RESULT_KEY not in result:
                continue
            env_steps = int(result["num_env_steps_sampled_lifetime"])
            by_behaviour = result.get("fast", {}).get("env_steps", {})
            rows.append({
                "target": params["env"], "method": _method(params["similarity_threshold"], params["similarity_interval"]),
                "similarity_threshold": params["similarity_threshold"], "similarity_interval": params["similarity_interval"],
                "seed": params["seed"], "trial": params_path.parent.name, "env_steps": env_steps,
                "evaluation_step": env_steps, "return_mean": result[RESULT_KEY]["return_mean"],
                "evaluation_episodes": result[RESULT_KEY]["episodes"],
                "source_steps": sum(steps for behaviour, steps in by_behaviour.items() if behaviour != "target"),
            })
    if not rows:
        raise SystemExit(f"grid_report: no trial under {experiment} recorded {RESULT_KEY!r} (params.json + result.json)")
    return pd.DataFrame(rows)


def trials_reaching(curves: pd.DataFrame, budget: int) -> pd.DataFrame:
    """The evaluations of the trials that reached ``budget`` env steps; the others are named on stdout."""
    reached = curves.groupby("trial").env_steps.max()
    short = sorted(reached[reached < budget].index)
    if short:
        print(f"grid_report: {len(short)} trial(s) short of {budget} env steps, left out: {', '.join(short)}")
    if len(short) == len(reached):
        raise SystemExit(f"grid_report: no trial reached {budget} env steps")
    return curves[~curves.trial.isin(short)]


def cell_table(curves: pd.DataFrame, lane_follower: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per trial, per cell): steps to 80 % of the lane follower and final return, per cell over seeds."""
    budget = int(curves.groupby("trial").env_steps.max().min())
    per_trial = transfer_report.summarize(curves, lane_follower, budget)
    axes = curves.drop_duplicates("method").set_index("method")[list(AXES)]
    per_trial = per_trial.join(axes, on="method")
    cells = []
    for (target, method), group in per_trial.groupby(["target", "method"]):
        steps = group[STEPS_COLUMN]
        cells.append({
            "target": target, **{axis: group[axis].iloc[0] for axis in AXES}, "seeds": len(group), "budget": budget,
            "lane_follower_return": group.lane_follower_return.iloc[0],
            # Mean over seeds with a seed that never got there counted at the budget (a lower bound then).
            "steps_to_80pct": float(steps.fillna(budget).mean()), "seeds_reaching_80pct": int(steps.notna().sum()),
            "steps_to_80pct_cell": transfer_report._steps_cell(steps, budget),
            "final_return": float(group.final_return.mean()),
            "final_return_cell": str(transfer_report.bootstrap_mean(group.final_return.to_numpy())),
            "source_share": float(group.source_share.mean()),
        })
    return per_trial, pd.DataFrame(cells)


def markdown(cells: pd.DataFrame) -> str:
    lines = [
        "| target | Θ | K | seeds | env steps to 80 % of the lane follower | final return | source share |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in cells.sort_values(list(AXES)).itertuples():
        lines.append(
            f"| `{row.target}` | {row.similarity_threshold} | {row.similarity_interval} | {row.seeds} | "
            f"{row.steps_to_80pct_cell} | {row.final_return_cell} | {row.source_share:.0%} |"
        )
    return "\n".join(lines) + "\n"


def plot_heatmaps(cells: pd.DataFrame, path: Path) -> None:
    """Two heatmaps over Θ (rows) x K (columns): mean env steps to 80 % (a seed that never got there at the
    budget, marked "≥") and mean final return."""
    plt = transfer_report._pyplot()
    thetas = sorted(cells.similarity_threshold.unique())
    intervals = sorted(cells.similarity_interval.unique())
    figure, axes = plt.subplots(1, 2, figsize=(5 + 2 * len(intervals), 1.8 + 0.9 * len(thetas)), constrained_layout=True)
    for axis, column, title in ((axes[0], "steps_to_80pct", "env steps to 80 % of lane follower"), (axes[1], "final_return", "final return")):
        grid = np.full((len(thetas), len(intervals)), np.nan)
        for row in cells.itertuples():
            grid[thetas.index(row.similarity_threshold), intervals.index(row.similarity_interval)] = getattr(row, column)
        image = axis.imshow(grid, cmap="viridis_r" if column == "steps_to_80pct" else "viridis", aspect="auto")
        for row in cells.itertuples():
            censored = column == "steps_to_80pct" and row.seeds_reaching_80pct < row.seeds
            text = f"{'≥' if censored else ''}{getattr(row, column):.0f}" if column == "steps_to_80pct" else f"{row.final_return:.1f}"
            axis.text(intervals.index(row.similarity_interval), thetas.index(row.similarity_threshold), text,
                      ha="center", va="center", color="white", fontsize=8)
        axis.set_xticks(range(len(intervals)), [str(k) for k in intervals])
        axis.set_yticks(range(len(thetas)), [str(t) for t in thetas])
        axis.set(xlabel="K (similarity_interval)", ylabel="Θ (similarity_threshold)", title=title)
        figure.colorbar(image, ax=axis, shrink=0.8)
    figure.suptitle(f"{', '.join(sorted(cells.target.unique()))}: {int(cells.seeds.max())} seeds per cell, "
                    f"{int(cells.budget.iloc[0])} env steps", fontsize=9)
    save_figure(figure, path, dpi=110)


def report(experiment: Path, out: Path, budget: int | None = None) -> pd.DataFrame:
    """Write ``cells.parquet``, ``trials.parquet``, ``table.md`` and ``heatmap.png`` to ``out``; returns the cells."""
    curves = read_trials(experiment)
    if budget is not None:
        curves = trials_reaching(curves, budget)
    out.mkdir(parents=True, exist_ok=True)
    episodes = curves.evaluation_episodes.unique()
    if len(episodes) != 1:
        raise SystemExit(f"grid_report: trials were evaluated on different numbers of episodes {sorted(episodes)}")
    lane_follower = lane_follower_returns(sorted(curves.target.unique()), int(episodes[0]), out)
    per_trial, cells = cell_table(curves, lane_follower)
    write_atomically(out / "trials.parquet", per_trial.to_parquet)
    write_atomically(out / "cells.parquet", cells.to_parquet)
    write_text_atomically(out / "table.md", markdown(cells))
    plot_heatmaps(cells, out / "heatmap.png")
    return cells


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path, help="Tune's result directory of the sweep (holds the trial folders)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/theta_k_grid"))
    parser.add_argument("--budget", type=int, default=None, help="env steps a trial must have reached to count")
    args = parser.parse_args(argv)
    if not args.experiment.is_dir():
        raise SystemExit(f"grid_report: {args.experiment} is not a directory")
    cells = report(args.experiment, args.out, args.budget)
    print(markdown(cells))
    print(f"wrote {args.out}/table.md, cells.parquet, trials.parquet, heatmap.png")


if __name__ == "__main__":
    main()
