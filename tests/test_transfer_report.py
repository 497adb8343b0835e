"""The transfer benchmark's report: the goal it checks and the README block it writes, on synthetic runs."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from fast_rllib.fast.distillation import NO_PULL, Pull

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))  # the benchmarks are scripts, not a package
import transfer  # noqa: E402
import transfer_report  # noqa: E402

BUDGET, EVERY = 10_000, 2_000


def _curves(returns: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    rows = [
        {"target": "t", "method": method, "seed": seed, "env_steps": step * EVERY, "evaluation_step": step * EVERY,
         "return_mean": value, "wall_s": 60.0 * (step + 1), "source_steps": 0}
        for (method, seed), values in returns.items()
        for step, value in enumerate(values)
    ]
    return pd.DataFrame(rows)


def _headline_row(returns: dict[tuple[str, int], list[float]]) -> str:
    summary = transfer_report.summarize(_curves(returns), {"t": 100.0}, BUDGET)
    return transfer_report.headline_table(summary).splitlines()[-1]


def test_goal_met_when_fast_reaches_the_bar_in_a_third_of_sacs_steps() -> None:
    # Bar = 80. FAST reaches it at 2,000 env steps; SAC at 10,000 on both seeds: 80 % fewer.
    row = _headline_row({
        ("fast_bandit", 0): [0, 90, 95, 95, 95, 95], ("fast_bandit", 1): [0, 85, 95, 95, 95, 95],
        ("sac", 0): [0, 10, 20, 40, 60, 85], ("sac", 1): [0, 10, 20, 40, 60, 81],
    })
    assert "| 80% [80%, 80%] |" in row and row.endswith("| yes / yes / not run |")


def test_a_bound_below_the_goal_is_not_shown_and_a_figure_below_it_is_no() -> None:
    fast = {("fast_bandit", 0): [0, 10, 20, 90, 95, 95]}  # the bar at 6,000 env steps
    censored = _headline_row({**fast, ("sac", 0): [0, 10, 20, 30, 40, 50]})  # never: >= 40 % fewer
    assert "at least 40%" in censored and censored.endswith("| not shown / yes / not run |")
    reached = _headline_row({**fast, ("sac", 0): [0, 10, 20, 30, 81, 99]})  # at 8,000: 25 % fewer
    assert reached.endswith("| no / no / not run |")


def test_jump_start_ahead_of_fast_fails_that_part_of_the_goal() -> None:
    row = _headline_row({
        ("fast_bandit", 0): [0, 10, 85, 90, 95, 95], ("jsrl", 0): [0, 85, 90, 90, 95, 95],
        ("sac", 0): [0, 0, 0, 0, 0, 10],
    })
    assert row.endswith("| not shown / yes / no |")


def test_progress_counts_planned_runs_only() -> None:
    curves = _curves({("sac", 0): [1, 2], ("fast_bandit", 0): [1, 2], ("extra", 0): [1, 2]})
    planned = [("t", "sac", 0), ("t", "sac", 1), ("t", "fast_bandit", 0), ("t", "fast_bandit", 1)]
    text = transfer_report.progress(curves, planned)
    assert text.startswith("Runs stored: 2 of 4 planned (partial).")
    assert "| sac | 1 / 2 |" in text and "extra" not in text


def test_readme_block_is_replaced_whole(tmp_path: Path) -> None:
    start, end = transfer.README_BLOCK
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{start}\nold table\n{end}\noutro\n")
    transfer.update_readme("new table\n", readme)
    assert readme.read_text() == f"intro\n{start}\nnew table\n{end}\noutro\n"


def test_readme_without_its_block_is_left_untouched(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no block here\n")
    with pytest.raises(SystemExit, match="needs exactly one block"):
        transfer.update_readme("table\n", readme)
    assert readme.read_text() == "no block here\n" and list(tmp_path.iterdir()) == [readme]


def test_bootstrap_interval_covers_the_mean() -> None:
    interval = transfer_report.bootstrap_mean(np.array([1.0, 2.0, 3.0, 10.0]))
    assert interval.low <= interval.mean <= interval.high and interval.high > interval.low


def test_early_table_shows_returns_against_the_lane_follower_and_fasts_source_share() -> None:
    curves = _curves({("sac", 0): [0, 20, 40], ("fast_bandit", 0): [0, 30, 90], ("random_source", 0): [0, 50, 50]})
    fast = curves.method == "fast_bandit"
    curves.loc[fast, "source_steps"] = curves.loc[fast, "env_steps"] // 2
    table = transfer_report.early_table(curves, {"t": 100.0}, until=EVERY * 2).splitlines()
    assert table[0] == "| target | method | seeds | 2,000 | 4,000 |"
    assert "| `t` | fast_bandit | 1 | 30% (50% source) | 90% (50% source) |" in table
    assert "| `t` | sac | 1 | 20% | 40% |" in table and not any("random_source" in line for line in table)


def test_comparison_table_lists_every_seed_in_the_profiles_order_and_marks_the_ones_that_never_got_there() -> None:
    # Bar = 80. finetune: seed 0 at 4,000, seed 1 never; FAST: 2,000 on both seeds.
    curves = _curves({
        ("finetune", 0): [0, 50, 90, 90, 90, 90], ("finetune", 1): [0, 10, 20, 30, 40, 50],
        ("fast_bandit", 0): [0, 85, 90, 90, 90, 90], ("fast_bandit", 1): [0, 80, 90, 90, 90, 90],
    })
    summary = transfer_report.summarize(curves, {"t": 100.0}, BUDGET)
    rows = transfer_report.comparison_table(summary, ["sac", "fast_bandit", "finetune"]).splitlines()[2:]
    assert [row.split(" | ")[1] for row in rows] == ["fast_bandit", "finetune"]
    assert rows[0].startswith("| `t` | fast_bandit | 2 | 2,000, 2,000 | 2000 [2000, 2000] | 90.0 [90.0, 90.0] | 0% |")
    assert rows[1].startswith(f"| `t` | finetune | 2 | 4,000, never | 1/2 seeds by {BUDGET} | 70.0 [50.0, 90.0] |")


def test_teacher_level_table_gives_each_seeds_share_of_its_top_sources_zero_shot_return_and_the_lowest() -> None:
    at_step = pd.DataFrame({
        "target": ["t", "t"], "method": ["fast_distill"] * 2, "seed": [1, 0], "return_mean": [90.0, 50.0],
        "zero_shot": [100.0, 125.0], "share": [0.9, 0.4], "top_source": ["a", "b"],
    })
    table = transfer_report.teacher_level_table(at_step, 2000)
    assert "| `t` | fast_distill | 0: 50.0 / 125.0 = 40% (b), 1: 90.0 / 100.0 = 90% (a) | 40% |" in table


def test_the_early_profile_evaluates_every_1000_env_steps() -> None:
    assert transfer.evaluation_schedule(10_000, 4_000) == (0, 4_000, 8_000)
    assert transfer.PROFILES["early"].evaluation_steps() == tuple(range(0, 20_001, 1_000))


def test_a_seed_subset_keeps_the_profiles_order() -> None:
    profile = transfer.PROFILES["early"]
    subset = profile.runs(["sac", "fast_distill"], None, seeds=[1])
    assert subset == [run for run in profile.runs(["sac", "fast_distill"], None) if run[2] == 1]
    assert {seed for _, _, seed in subset} == {1} and len(subset) == 2 * len(profile.targets)


def test_each_evaluation_records_the_pull_toward_a_teacher() -> None:
    """Why a target's return moved: the weight and teacher at each evaluation, none for SAC or no teacher."""
    pulling = SimpleNamespace(distillation_pull=Pull("chicane-v0", 0.4, "measured"))
    assert transfer._distillation_at(pulling) == {"distillation_weight": 0.4, "teacher": "chicane-v0"}
    for algo in (SimpleNamespace(distillation_pull=NO_PULL), SimpleNamespace()):
        assert transfer._distillation_at(algo) == {"distillation_weight": 0.0, "teacher": ""}


def test_the_method_reported_as_fasts_defaults_sets_fasts_defaults_and_its_likeness_twin_only_the_score() -> None:
    """The quick side-by-side calls ``fast_distill_record_released`` FAST's defaults: if a default moves, this
    fails, and the stored runs must be read as the old defaults (or rerun). The stepped release is the one
    setting between it and the defaults before it; the early profiles ran both and report the defaults."""
    from fast_rllib import FASTConfig

    defaults = FASTConfig()
    record = transfer.FAST_OVERRIDES["fast_distill_record_released"]
    assert {key: getattr(defaults, key) for key in record} == record
    likeness = transfer.FAST_OVERRIDES["fast_distill_released"]
    assert {key for key in record if record[key] != likeness[key]} == {"candidate_score"}
    assert likeness["candidate_score"] == "similarity"
    before = transfer.FAST_OVERRIDES["fast_distill_record_soft_latest"]
    assert {key for key in record if record[key] != before[key]} == {"distillation_release_step"}
    assert transfer.PROFILES["early"].headline_method == "fast_distill_record_released"
    assert transfer.PROFILES["early_generated"].headline_method == "fast_distill_record_released"
