"""Env steps per second of a training run once learning has started, shared by the benchmarks that time
whole runs (update_speed, throughput): the steps before ``num_steps_sampled_before_learning_starts``
(plus one reporting round) sample without updating and would flatter every path alike."""

from __future__ import annotations

import time
from typing import Any, Callable


def sampled_steps(algo) -> int:
    return algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0)


def measure_after_warm_up(
    algo, measured_steps: int, on_result: Callable[[dict[str, Any]], None] = lambda result: None
) -> tuple[int, float]:
    """Train past the warm-up, then for ``measured_steps`` more env steps, passing each iteration's result
    to ``on_result``; returns (env steps measured, wall seconds they took)."""
    while sampled_steps(algo) < algo.config.num_steps_sampled_before_learning_starts + 256:
        algo.train()
    start_steps, start = sampled_steps(algo), time.perf_counter()
    while sampled_steps(algo) < start_steps + measured_steps:
        on_result(algo.train())
    return sampled_steps(algo) - start_steps, time.perf_counter() - start
