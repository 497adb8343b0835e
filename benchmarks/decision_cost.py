"""What a decision's scores cost: the similarity service's answer alone, and with transferability added.

Usage: python benchmarks/decision_cost.py [--queries 2000] [--out benchmarks/results/decision_cost.json]

FAST's decision asks the shared service (a Ray actor) for every source's score of the latest window of
target stacks (FASTConfig's default window, FT, the shipped zoo); with ``candidate_score="transferability"``
it then adds each source's transfer record, read once at setup. Both are timed in the same run, query by
query in rotating order, so that the machine's load falls on both alike, and so is the records' addition
alone (on one stored answer): the part of the decision the score adds. p50 and p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import ray

from fast_rllib import FASTConfig
from fast_rllib.atomic_write import write_json_atomically
from fast_rllib.build.frame_collection import collect_frame_stacks
from fast_rllib.fast.candidate_scores import missing_records_warning, transfer_records, transferability_scores
from fast_rllib.repository import SourceRepository
from fast_rllib.service import get_or_create_similarity_service
from fast_rllib.tasks import TASKS
from fast_rllib.tasks.controller import LaneFollowingController

TARGET_TASK = "fast/racetrack-v0"
DEFAULT_OUT = Path(__file__).parent / "results" / "decision_cost.json"


def percentiles(times_ms: list[float]) -> dict[str, float]:
    return {"p50_ms": float(np.percentile(times_ms, 50)), "p99_ms": float(np.percentile(times_ms, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    config = FASTConfig()
    repository = SourceRepository.load(config.resolved_repository_path)
    stacks = collect_frame_stacks(
        TARGET_TASK, config.similarity_target_stacks, repository.frame_size, LaneFollowingController(), seed=12345
    )
    description = TASKS[TARGET_TASK].description
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    service = get_or_create_similarity_service("decision-cost", config.similarity_service_settings())
    records = transfer_records(repository)
    if records is None:
        raise SystemExit(f"error: {missing_records_warning(repository)}")

    def similarity() -> dict[str, float]:
        return ray.get(service.scores.remote(stacks, description))

    def transferability() -> dict[str, float]:
        return transferability_scores(similarity(), records)

    answer = similarity()

    def records_added() -> dict[str, float]:
        return transferability_scores(answer, records)

    calls = (("similarity", similarity), ("transferability", transferability), ("records_added", records_added))
    times: dict[str, list[float]] = {name: [] for name, _ in calls}
    for _ in range(5):
        transferability()
    for query in range(args.queries):
        # Each query rotates which call goes first, so that none profits from another's warm caches.
        for name, call in calls[query % len(calls):] + calls[:query % len(calls)]:
            start = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - start) * 1000.0)
    ray.shutdown()
    rows = {name: percentiles(values) for name, values in times.items()}
    for name, row in rows.items():
        print(f"{name:<16} p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms")
    write_json_atomically(args.out, {
        "target_task": TARGET_TASK, "sources": len(repository), "window": config.similarity_target_stacks,
        "modality": config.modality, "queries": args.queries, "load_average_1min": round(os.getloadavg()[0], 2),
        **rows,
    })


if __name__ == "__main__":
    main()
