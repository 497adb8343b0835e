"""Figures of the transfer benchmark from its learning curves: metrics with bootstrap intervals, tables, plots.

Kept apart from :mod:`transfer` (which trains) so that a report can be rebuilt from the stored runs at any
time, for instance while a long profile is still running: ``python benchmarks/transfer.py --profile
standard --report-only``.

Bars are fixed fractions of the lane follower's return on the same evaluation seeds (50 % and 80 %), so a
method's "steps to the bar" does not depend on how lucky SAC was. A run that never reaches a bar within
the budget is *censored*: it is reported as such, and a difference against it is a bound, never a figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fast_rllib.tasks.rendering import save_figure

BARS = (0.5, 0.8)
SAC_PLATEAU_FRACTION = 0.9
# Final return and SAC's plateau average the evaluations in the last tenth of the budget (one evaluation
# moves by several points from one to the next; the quick profile has a single one there).
FINAL_SHARE = 0.1
BOOTSTRAP_SAMPLES = 10_000
HEADLINE_METHOD, BASELINE_METHOD, JUMP_START_METHOD = "fast_bandit", "sac", "jsrl"
# The headline goal: this fraction fewer env steps than SAC to 80 % of the lane follower (issue 18).
GOAL_FEWER_STEPS = 0.67


def bar_column(bar: float) -> str:
    """The summary column holding env steps to ``bar`` (a fraction) of the lane follower's return."""
    return f"steps_to_{bar:.0%}_lane_follower"


# The headline's bar: the last (highest) of BARS.
HEADLINE_COLUMN = bar_column(BARS[-1])


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float

    def __str__(self) -> str:
        if np.isnan(self.low):  # one seed: no interval
            return f"{self.mean:.1f}"
        return f"{self.mean:.1f} [{self.low:.1f}, {self.high:.1f}]"


def bootstrap_mean(values: np.ndarray, seed: int = 0) -> Interval:
    """Mean over seeds with a 95 % percentile bootstrap interval (seeds resampled with replacement)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return Interval(values[0], np.nan, np.nan)
    samples = np.random.default_rng(seed).choice(values, size=(BOOTSTRAP_SAMPLES, len(values))).mean(axis=1)
    return Interval(float(values.mean()), *np.percentile(samples, [2.5, 97.5]))


def bootstrap_fewer_steps(method_steps: np.ndarray, baseline_steps: np.ndarray, seed: int = 0) -> Interval:
    """``1 - mean(method) / mean(baseline)``: the fraction of the baseline's env steps the method saves, with
    a 95 % interval from resampling each group's seeds independently (runs are not paired)."""
    if len(method_steps) == 1 and len(baseline_steps) == 1:  # one run each: no interval
        return Interval(float(1 - method_steps[0] / baseline_steps[0]), np.nan, np.nan)
    rng = np.random.default_rng(seed)
    method = rng.choice(method_steps, size=(BOOTSTRAP_SAMPLES, len(method_steps))).mean(axis=1)
    baseline = rng.choice(baseline_steps, size=(BOOTSTRAP_SAMPLES, len(baseline_steps))).mean(axis=1)
    low, high = np.percentile(1 - method / baseline, [2.5, 97.5])
    return Interval(float(1 - np.mean(method_steps) / np.mean(baseline_steps)), float(low), float(high))


# Per-run metrics ------------------------------------------------------------------------------------------


def steps_to_reach(curve: pd.DataFrame, level: float) -> float:
    """The first evaluation step at which the return reaches ``level``; NaN if it never does."""
    reached = curve[curve.return_mean >= level]
    return float(reached.evaluation_step.iloc[0]) if len(reached) else float("nan")


def final_return(curve: pd.DataFrame, budget: int) -> float:
    """Mean return of the evaluations in the last tenth of the budget."""
    return float(curve[curve.evaluation_step >= (1 - FINAL_SHARE) * budget].return_mean.mean())


def run_summary(rows: list[dict[str, float]], bar: float, env_steps: int, evaluate_every: int) -> dict[str, float | int | None]:
    """Env steps to ``bar`` (None: never), best and final return of one run, read as the transfer report reads
    a run (its evaluations on their nominal grid)."""
    curve = pd.DataFrame(rows)
    curve["evaluation_step"] = curve.env_steps // evaluate_every * evaluate_every
    steps = steps_to_reach(curve, bar)
    return {
        "steps_to_bar": None if np.isnan(steps) else int(steps),
        "best_return": float(curve.return_mean.max()),
        "final_return": final_return(curve, env_steps),
    }


def summarize(
    curves: pd.DataFrame, lane_follower: dict[str, float], budget: int, baseline: str = BASELINE_METHOD
) -> pd.DataFrame:
    """One row per (target, method, seed): steps to each bar, to 90 % of SAC's plateau, final return, AUC.

    SAC's plateau is the mean over SAC's seeds of their final returns (``baseline``: the method learning
    from scratch that plays SAC's role, ``"dqn"`` for discrete actions; the column keeps its name). Every stored run is complete (a run
    file is written when its run ends), so "never" means "not within the budget".
    """
    rows = []
    for target, per_target in curves.groupby("target"):
        sac = per_target[per_target.method == baseline]
        sac_plateau = np.mean([final_return(curve, budget) for _, curve in sac.groupby("seed")]) if len(sac) else np.nan
        for (method, seed), curve in per_target.groupby(["method", "seed"]):
            curve = curve.sort_values("evaluation_step")
            row = {
                "target": target, "method": method, "seed": seed, "budget": budget,
                "lane_follower_return": lane_follower[target], "sac_plateau": sac_plateau,
                "final_return": final_return(curve, budget),
                "steps_to_90pct_sac_plateau": steps_to_reach(curve, SAC_PLATEAU_FRACTION * sac_plateau),
                "auc": float(np.trapezoid(curve.return_mean, curve.evaluation_step) / budget),
                "source_share": curve.source_steps.iloc[-1] / max(curve.env_steps.iloc[-1], 1),
            }
            for bar in BARS:
                row[bar_column(bar)] = steps_to_reach(curve, bar * lane_follower[target])
            rows.append(row)
    return pd.DataFrame(rows)


def progress(curves: pd.DataFrame, planned: list[tuple[str, str, int]]) -> str:
    """Stored runs against the profile's plan, seeds per method and target, and their cost: tables built
    from a partial profile say so next to the numbers."""
    wall = curves.groupby(["target", "method", "seed"]).wall_s.max()
    stored = set(wall.index)
    targets = list(dict.fromkeys(target for target, _, _ in planned))
    methods = list(dict.fromkeys(method for _, method, _ in planned))
    done = sum(run in stored for run in planned)
    lines = [
        f"Runs stored: {done} of {len(planned)} planned ({'complete' if done == len(planned) else 'partial'}). "
        f"Wall time per run here: median {wall.median() / 60:.0f} min with two runs side by side; all stored "
        f"runs: {wall.sum() / 3600:.1f} run-hours, about {wall.sum() / 2 / 3600:.0f} hours two at a time.",
        "",
        f"| seeds stored / planned | {' | '.join(f'`{target}`' for target in targets)} |",
        f"|---|{'---|' * len(targets)}",
    ]
    for method in methods:
        cells = []
        for target in targets:
            plan = [run for run in planned if run[:2] == (target, method)]
            cells.append(f"{sum(run in stored for run in plan)} / {len(plan)}")
        lines.append(f"| {method} | {' | '.join(cells)} |")
    return "\n".join(lines)


# Tables -------------------------------------------------------------------------------------------------


def _steps_cell(steps: pd.Series, budget: int) -> str:
    """Mean [95 % CI] when every seed got there; otherwise how many did, since a mean over the seeds that
    reached the bar would hide the ones that never did."""
    reached = int(steps.notna().sum())
    if reached == len(steps):
        interval = bootstrap_mean(steps.to_numpy())
        return f"{interval.mean:.0f}" if np.isnan(interval.low) else f"{interval.mean:.0f} [{interval.low:.0f}, {interval.high:.0f}]"
    return f"never ({len(steps)} seeds, > {budget})" if reached == 0 else f"{reached}/{len(steps)} seeds by {budget}"


def fewer_steps(method_steps: pd.Series, baseline_steps: pd.Series, budget: int) -> Interval | None:
    """The headline: how many fewer env steps than the baseline. A baseline seed that never reached the bar
    counts as the budget, which makes the figure a lower bound; if the method has a seed that never reached
    it, there is no figure (None)."""
    if method_steps.isna().any():
        return None
    return bootstrap_fewer_steps(method_steps.to_numpy(), baseline_steps.fillna(budget).to_numpy())


def fewer_steps_cell(fewer: Interval | None, method_steps: pd.Series, baseline_steps: pd.Series) -> str:
    """:func:`fewer_steps` as a table cell: "at least" when the baseline is censored."""
    if fewer is None:
        return f"n/a: {int(method_steps.isna().sum())}/{len(method_steps)} seeds never reached it"
    text = f"{fewer.mean:.0%}" if np.isnan(fewer.low) else f"{fewer.mean:.0%} [{fewer.low:.0%}, {fewer.high:.0%}]"
    return f"at least {text}" if baseline_steps.isna().any() else text


def method_table(summary: pd.DataFrame) -> str:
    """Every method on every target, each metric as mean [95 % bootstrap CI] over seeds."""
    bar_columns = [bar_column(bar) for bar in BARS]
    lines = [
        "| target | method | seeds | env steps to 50 % of lane follower | to 80 % | to 90 % of SAC's plateau | "
        "final return | AUC | source share |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (target, method), group in summary.groupby(["target", "method"]):
        budget = int(group.budget.iloc[0])
        cells = [_steps_cell(group[column], budget) for column in (*bar_columns, "steps_to_90pct_sac_plateau")]
        lines.append(
            f"| `{target}` | {method} | {len(group)} | {' | '.join(cells)} | {bootstrap_mean(group.final_return.to_numpy())} | "
            f"{bootstrap_mean(group.auc.to_numpy())} | {group.source_share.mean():.0%} |"
        )
    return "\n".join(lines) + "\n"


def headline_table(
    summary: pd.DataFrame, headline_method: str = HEADLINE_METHOD, baseline: str = BASELINE_METHOD,
    goal_fewer: float = GOAL_FEWER_STEPS,
) -> str:
    """Per target: % fewer env steps than SAC (``baseline``) to 80 % of the lane follower, for FAST
    (``headline_method``) and for Jump-Start, and whether each part of the goal (at least ``goal_fewer``
    fewer) holds (:func:`goal_cell`)."""
    column = HEADLINE_COLUMN
    name = baseline.upper()
    lines = [
        f"| target | lane follower | {name}: steps to 80 % | FAST: steps to 80 % | FAST: fewer steps than {name} | "
        f"Jump-Start: fewer steps than {name} | FAST final return / {name}'s plateau | goal: fewer / final / vs Jump-Start |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for target, per_target in summary.groupby("target"):
        by_method = {method: group for method, group in per_target.groupby("method")}
        if baseline not in by_method or headline_method not in by_method:
            continue
        sac, fast, jsrl = by_method[baseline], by_method[headline_method], by_method.get(JUMP_START_METHOD)
        budget = int(sac.budget.iloc[0])
        fast_fewer = fewer_steps(fast[column], sac[column], budget)
        jsrl_cell = (
            "not run" if jsrl is None
            else fewer_steps_cell(fewer_steps(jsrl[column], sac[column], budget), jsrl[column], sac[column])
        )
        lines.append(
            f"| `{target}` | {sac.lane_follower_return.iloc[0]:.1f} | {_steps_cell(sac[column], budget)} | "
            f"{_steps_cell(fast[column], budget)} | {fewer_steps_cell(fast_fewer, fast[column], sac[column])} | {jsrl_cell} | "
            f"{fast.final_return.mean() / sac.sac_plateau.iloc[0]:.2f} ({len(fast)} vs {len(sac)} seeds) | "
            f"{goal_cell(fast_fewer, fast, sac, jsrl, column, budget, goal_fewer)} |"
        )
    return "\n".join(lines) + "\n"


def comparison_table(summary: pd.DataFrame, methods: list[str]) -> str:
    """Every method against FAST's default, target by target, in the profile's order: env steps to 80 % of
    the lane follower per seed (so a reader sees which seeds never got there, which a mean hides) and as a
    mean with its interval, final return, and the share of env steps sources drove."""
    column = HEADLINE_COLUMN
    lines = [
        "| target | method | seeds | steps to 80 %, per seed | steps to 80 %, mean | final return | source share |",
        "|---|---|---|---|---|---|---|",
    ]
    for target, per_target in summary.groupby("target"):
        by_method = {method: group.sort_values("seed") for method, group in per_target.groupby("method")}
        for method in (method for method in methods if method in by_method):
            group = by_method[method]
            per_seed = ", ".join("never" if np.isnan(steps) else f"{steps:,.0f}" for steps in group[column])
            lines.append(
                f"| `{target}` | {method} | {len(group)} | {per_seed} | {_steps_cell(group[column], int(group.budget.iloc[0]))} | "
                f"{bootstrap_mean(group.final_return.to_numpy())} | {group.source_share.mean():.0%} |"
            )
    return "\n".join(lines) + "\n"


def early_table(
    curves: pd.DataFrame,
    lane_follower: dict[str, float],
    until: int,
    methods: tuple[str, ...] = (BASELINE_METHOD, HEADLINE_METHOD, JUMP_START_METHOD),
    baseline: str = BASELINE_METHOD,
) -> str:
    """The first evaluations of ``methods`` (by default the headline pair, and Jump-Start once run): the
    target policy's mean return over seeds as % of the lane follower at each evaluation up to ``until``,
    and for the transfer methods the share of env steps a source drove so far. A "fewer steps" figure below the goal is read here: it shows whether
    FAST's target was slow to learn although sources drove (the learner limits it), or SAC was already quick
    (the track leaves transfer little to add)."""
    early = curves[(curves.evaluation_step > 0) & (curves.evaluation_step <= until)]
    early = early[early.method.isin(methods)]
    steps = sorted(early.evaluation_step.unique())
    lines = [
        f"| target | method | seeds | {' | '.join(f'{step:,}' for step in steps)} |",
        f"|---|---|---|{'---|' * len(steps)}",
    ]
    for (target, method), group in early.groupby(["target", "method"]):
        by_step = group.groupby("evaluation_step")
        of_lane_follower = by_step.return_mean.mean() / lane_follower[target]
        share = by_step.source_steps.mean() / by_step.env_steps.mean()
        cells = []
        for step in steps:
            if step not in share.index:
                cells.append("")
                continue
            cell = f"{of_lane_follower[step]:.0%}"
            cells.append(cell if method == baseline else f"{cell} ({share[step]:.0%} source)")
        lines.append(f"| `{target}` | {method} | {group.seed.nunique()} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def teacher_level_table(at_step: pd.DataFrame, step: int) -> str:
    """Per target and method: each seed's target return at ``step`` over its top source's zero-shot
    return (columns ``return_mean``, ``zero_shot``, ``share``, ``top_source``), and the lowest share."""
    lines = [
        f"| target | method | seed: target return at {step:,} / top source's zero-shot (source) | lowest |",
        "|---|---|---|---|",
    ]
    for (target, method), group in at_step.sort_values("seed").groupby(["target", "method"]):
        cells = ", ".join(
            f"{row.seed}: {row.return_mean:.1f} / {row.zero_shot:.1f} = {row.share:.0%} ({row.top_source})"
            for row in group.itertuples()
        )
        lines.append(f"| `{target}` | {method} | {cells} | {group.share.min():.0%} |")
    return "\n".join(lines) + "\n"


def goal_cell(
    fast_fewer: Interval | None, fast: pd.DataFrame, sac: pd.DataFrame, jsrl: pd.DataFrame | None, column: str, budget: int,
    goal_fewer: float = GOAL_FEWER_STEPS,
) -> str:
    """The issue's goal, part by part, on point estimates: at least ``goal_fewer`` fewer env steps
    than SAC to the bar (``fast_fewer``, from :func:`fewer_steps`: with SAC censored a lower bound, "not
    shown" when it is below the goal), a final return at least SAC's plateau, and fewer env steps to the
    bar than Jump-Start (its censored seeds at the budget)."""
    if fast_fewer is None:
        fewer = "no"
    elif fast_fewer.mean >= goal_fewer:
        fewer = "yes"
    else:  # below the goal; with SAC censored that is only a bound, which the budget cannot settle
        fewer = "not shown" if sac[column].isna().any() else "no"
    final = "yes" if fast.final_return.mean() >= sac.sac_plateau.iloc[0] else "no"
    if jsrl is None:
        ahead = "not run"
    else:
        ahead = "yes" if fast[column].fillna(budget).mean() < jsrl[column].fillna(budget).mean() else "no"
    return f"{fewer} / {final} / {ahead}"


# Plots --------------------------------------------------------------------------------------------------


def plot_curves(curves: pd.DataFrame, lane_follower: dict[str, float], out: Path, evaluation_episodes: int) -> None:
    """Per target: mean curve and 95 % bootstrap band per method, the lane follower and 80 % of it dotted."""
    plt = _pyplot()
    for target, per_target in curves.groupby("target"):
        figure, axis = plt.subplots(figsize=(7.5, 4.5))
        _draw_curves(axis, target, per_target, lane_follower[target], evaluation_episodes)
        save_figure(figure, out / f"{target.replace('/', '_')}.png", dpi=110)


def plot_first_steps(
    curves: pd.DataFrame, lane_follower: dict[str, float], out: Path, evaluation_episodes: int,
    methods: tuple[str, ...], until: int,
) -> None:
    """``first_steps.png``: the first ``until`` env steps of ``methods``, one panel per target, drawn as
    :func:`plot_curves` draws them (where a saving of a few thousand env steps shows)."""
    plt = _pyplot()
    chosen = curves[curves.method.isin(methods) & (curves.evaluation_step <= until)]
    targets = sorted(chosen.target.unique())
    figure, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 4), squeeze=False)
    for axis, target in zip(axes[0], targets):
        _draw_curves(axis, target, chosen[chosen.target == target], lane_follower[target], evaluation_episodes)
    save_figure(figure, out / "first_steps.png", dpi=110)


def _draw_curves(axis, target: str, per_target: pd.DataFrame, lane_follower: float, evaluation_episodes: int) -> None:
    """One target's mean curve and 95 % bootstrap band per method, with the lane follower and 80 % of it."""
    for method, per_method in per_target.groupby("method"):
        steps, means, lows, highs = [], [], [], []
        for step, at_step in per_method.groupby("evaluation_step"):
            interval = bootstrap_mean(at_step.return_mean.to_numpy())
            steps.append(step), means.append(interval.mean), lows.append(interval.low), highs.append(interval.high)
        line = axis.plot(steps, means, label=f"{method} ({per_method.seed.nunique()} seeds)")[0]
        axis.fill_between(steps, lows, highs, color=line.get_color(), alpha=0.15)
    axis.axhline(lane_follower, color="black", linestyle=":", label="lane follower")
    axis.axhline(BARS[-1] * lane_follower, color="grey", linestyle=":", label="80 % of lane follower")
    axis.set(xlabel="env steps", ylabel=f"target return (deterministic, {evaluation_episodes} fixed seeds)", title=target)
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3)


def plot_headline(summary: pd.DataFrame, out: Path) -> None:
    """Env steps to 80 % of the lane follower per target and method, mean and 95 % CI; censored runs at the
    budget with a hatched bar."""
    plt = _pyplot()
    column = HEADLINE_COLUMN
    targets, methods = sorted(summary.target.unique()), sorted(summary.method.unique())
    figure, axis = plt.subplots(figsize=(max(6, 2.2 * len(targets)), 4))
    width = 0.8 / len(methods)
    for index, method in enumerate(methods):
        for position, target in enumerate(targets):
            steps = summary[(summary.target == target) & (summary.method == method)][column]
            if steps.empty:
                continue
            budget = int(summary.budget.iloc[0])
            interval = bootstrap_mean(steps.fillna(budget).to_numpy())
            x = position + (index - (len(methods) - 1) / 2) * width
            axis.bar(x, interval.mean, width, label=method if position == 0 else None, color=f"C{index}",
                     hatch="//" if steps.isna().any() else None)
            if not np.isnan(interval.low):
                axis.errorbar(x, interval.mean, yerr=[[interval.mean - interval.low], [interval.high - interval.mean]],
                              color="black", capsize=2, linewidth=0.8)
    axis.set_xticks(range(len(targets)), targets, fontsize=8)
    axis.set(ylabel="env steps to 80 % of the lane follower", title="Hatched: some seeds never got there (counted at the budget)")
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3, axis="y")
    save_figure(figure, out / "headline.png", dpi=110)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt

