"""The Θ x K sweep: the tuned example grids what it says, and a tiny real grid under Tune gives the report
command what it needs (each trial's own target evaluations) for its table and heatmap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from ray import tune
from tiny_repository import tiny_fast_config

import fast_rllib  # noqa: F401  (registers the "FAST" trainable)
from fast_rllib.build.target_evaluation import evaluate_target_every
from fast_rllib.commands.rllib_cli import grid_searches, load_tuned_example

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))  # the benchmarks are scripts, not a package
import grid_report  # noqa: E402

ROOT = Path(__file__).parent.parent


def test_the_grid_example_sweeps_theta_and_k_under_the_default_rule() -> None:
    config, stop = load_tuned_example(ROOT / "tuned_examples" / "fast_racetrack_grid.py")
    assert dict(grid_searches(config)) == {
        "similarity_interval": [100, 1000, 5000], "similarity_threshold": [0.2, 0.4, 0.6], "seed": [0, 1],
    }
    tuned, _ = load_tuned_example(ROOT / "tuned_examples" / "fast_racetrack.py")
    assert config.selection_rule == tuned.selection_rule == "bandit" and config.modality == tuned.modality
    assert config.env == tuned.env == "fast/indiana-v0" and config.candidate_ratio == tuned.candidate_ratio
    assert stop == {"num_env_steps_sampled_lifetime": 16_000}
    assert config.callbacks_on_train_result is not None


def test_evaluation_settings_are_checked() -> None:
    with pytest.raises(ValueError, match=r"evaluate_target_every: episodes=0 must be an integer >= 1"):
        evaluate_target_every(iterations=2, episodes=0)


def test_a_budget_leaves_out_the_trials_that_have_not_reached_it_by_name(capsys) -> None:
    """A sweep still running (or stopped) has trials short of the budget: they must not shrink every
    trial's budget to theirs, and the report says which it left out."""
    curves = pd.DataFrame({"trial": ["done", "done", "short"], "env_steps": [1000, 2000, 1000]})
    kept = grid_report.trials_reaching(curves, 2000)
    assert list(kept.trial.unique()) == ["done"]
    assert "1 trial(s) short of 2000 env steps, left out: short" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no trial reached 4000 env steps"):
        grid_report.trials_reaching(curves, 4000)


@pytest.mark.slow
def test_fast_is_a_tune_trainable_in_every_ray_session_of_a_process() -> None:
    """Tune keeps trainables in the cluster's key-value store: after ray.shutdown() and a new ray.init()
    (a notebook, a test session, a driver running sweeps one after another) "FAST" must still be known."""
    code = (
        "import ray, fast_rllib\n"
        "from ray.tune.registry import _has_trainable\n"
        "for _ in range(2):\n"
        "    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)\n"
        "    print(_has_trainable('FAST'), _has_trainable('JumpStart'))\n"
        "    ray.shutdown()\n"
    )
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.split() == ["True"] * 4, finished.stdout


@pytest.mark.slow
def test_a_tiny_theta_grid_under_tune_gives_a_table_and_a_heatmap(repository, ray_session, tmp_path) -> None:
    """Two cells, two trials side by side sharing one service: Θ = 0 lets every source be a candidate, Θ = 1
    (the top of minmax_cosine's range) none, so only the first cell's sources drive."""
    config = tiny_fast_config(
        repository,
        similarity_service_name="fast_grid_service",
        selection_rule="bandit",
        distillation=False,
        similarity_threshold=tune.grid_search([0.0, 1.0]),
    ).callbacks(on_train_result=evaluate_target_every(iterations=1, episodes=1))
    tuner = tune.Tuner(
        "FAST",
        param_space=config,
        run_config=tune.RunConfig(storage_path=str(tmp_path / "results"), name="grid", stop={"training_iteration": 3}, verbose=0),
    )
    results = tuner.fit()
    assert not results.errors, results.errors
    out = tmp_path / "report"
    grid_report.main([str(tmp_path / "results" / "grid"), "--out", str(out)])
    cells = pd.read_parquet(out / "cells.parquet").set_index("similarity_threshold")
    assert sorted(cells.index) == [0.0, 1.0] and (cells.seeds == 1).all() and (cells.similarity_interval == 32).all()
    assert cells.loc[0.0, "source_share"] > 0 and cells.loc[1.0, "source_share"] == 0
    assert (cells.budget >= 3 * 64).all() and cells.lane_follower_return.notna().all()
    # The last tenth of a 3-iteration budget holds only the last evaluation: Tune's final result's.
    for result in results:
        final = result.metrics["target_evaluation"]["return_mean"]
        assert cells.loc[result.config["similarity_threshold"], "final_return"] == pytest.approx(final)
    table = (out / "table.md").read_text()
    assert table.count("| `fast/indiana-v0` |") == 2
    assert (out / "heatmap.png").stat().st_size > 0
