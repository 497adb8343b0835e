"""The collapse probe's summary: each run of low probes once, with the probe before and after it."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))  # the benchmarks are scripts, not a package
import policy_collapse  # noqa: E402


def _probes(returns: list[float]) -> pd.DataFrame:
    return pd.DataFrame({
        "target": "t", "seed": 0, "wall_s": 0.0, "env_steps": [500 * index for index in range(len(returns))],
        "return_mean": returns, "distillation_weight": 0.5,
    })


def test_a_collapse_is_listed_once_with_its_neighbours_and_the_first_probe_is_not_one() -> None:
    text = policy_collapse.summary([_probes([2.0, 100.0, 120.0, 3.0, 4.0, 110.0, 115.0])])
    assert text.count("t seed 0:") == 1
    listed = [int(line.split()[0]) for line in text.splitlines()[2:]]
    assert listed == [1000, 1500, 2000, 2500]


def test_a_run_without_a_collapse_says_so() -> None:
    assert policy_collapse.summary([_probes([2.0, 100.0, 110.0])]).startswith("no probe")
