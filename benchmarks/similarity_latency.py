"""Latency of one similarity query: the target's stacks against every source, F and FT, on CPU.

A query is one 4-frame stack (the paper) or FAST's default window of the latest stacks
(``similarity_target_stacks``), since FAST sends that many once it has made that many decisions.

Measured in-process (``SimilarityService`` called directly) and through the Ray actor (``ray.get`` round
trip), because FAST pays the round trip every K env steps of every trial. Goal: p50 <= 20 ms in-process.

Usage: python benchmarks/similarity_latency.py [--repository PATH | --catalogue-sources] [--autoencoder DIR]
       [--queries 200] [--threads 1] [--no-actor] [--out benchmarks/results/similarity_latency.json]
Sources: the given repository, else the shipped one (fast_rllib/zoo) when it has entries, else (or with
--catalogue-sources) every catalogue task driven by the lane follower (10 stacks each) with its description.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from fast_rllib import FASTConfig
from fast_rllib.atomic_write import write_json_atomically
from fast_rllib.checkout_paths import checkout_relative
from fast_rllib.embedding.autoencoder import FrameAutoencoder
from fast_rllib.build.catalogue_training import catalogue_source_tasks
from fast_rllib.build.frame_collection import collect_frame_stacks
from fast_rllib.embedding.similarity import METRICS
from fast_rllib.embedding.task_embedding import MODALITIES
from fast_rllib.repository import SourceTask, load_repository_sources
from fast_rllib.service import (
    SimilarityService,
    get_or_create_similarity_service,
    shipped_autoencoder_dir,
)
from fast_rllib.tasks import TASKS
from fast_rllib.tasks.controller import LaneFollowingController

TARGET_TASK = "fast/racetrack-v0"
DEFAULT_OUT = Path(__file__).parent / "results" / "similarity_latency.json"


def percentiles_ms(call: Callable[[], object], queries: int, warmup: int = 5) -> dict[str, float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(queries):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000.0)
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)),
            "mean_ms": float(np.mean(times)), "queries": queries}


def limit_threads(threads: int) -> None:
    """Give torch and numpy's BLAS the same thread budget a Ray actor gets (OMP_NUM_THREADS=1).

    Not optional on a busy 2-core machine: OpenBLAS threading the rbf metric's 141 x 141 Gram matrix
    measured p50 11.6 ms / p95 223 ms, against 1.8 / 2.3 ms with one thread.
    """
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("threadpoolctl is not installed: numpy's BLAS keeps its own thread count")
        return
    threadpool_limits(threads)


def default_repository() -> Path | None:
    """The shipped repository, if it exists and lists entries (it is built by `fast-rllib repo build`)."""
    from fast_rllib.repository import DEFAULT_REPOSITORY

    try:
        return DEFAULT_REPOSITORY if load_repository_sources(str(DEFAULT_REPOSITORY)) else None
    except Exception as error:  # missing or incomplete: fall back to catalogue frames, and say why
        print(f"no usable repository at {DEFAULT_REPOSITORY} ({error}); using catalogue frames")
        return None


def load_sources(repository: Path | None, frame_size: int) -> tuple[list[SourceTask], str]:
    if repository is not None:
        return load_repository_sources(str(repository)), f"repository {checkout_relative(repository)}"
    return catalogue_source_tasks(list(TASKS), frame_size, stacks_per_task=10), "catalogue, lane follower, 10 stacks each"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    origin = parser.add_mutually_exclusive_group()
    origin.add_argument("--repository", type=Path, default=None, help="default: the shipped repository")
    origin.add_argument("--catalogue-sources", action="store_true", help="every catalogue task, lane follower frames")
    parser.add_argument("--autoencoder", type=Path, default=None, help="default: <repository>/autoencoder, else the shipped one")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in-process (a Ray actor with < 1 CPU gets 1)")
    parser.add_argument("--no-actor", action="store_true", help="skip the Ray actor measurements")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    limit_threads(args.threads)
    if args.repository is None and not args.catalogue_sources:
        args.repository = default_repository()

    autoencoder_dir = args.autoencoder or (
        args.repository / "autoencoder" if args.repository is not None else shipped_autoencoder_dir()
    )
    frame_size = FrameAutoencoder.load(autoencoder_dir).config.frame_size
    sources, source_origin = load_sources(args.repository, frame_size)
    window = FASTConfig().similarity_target_stacks
    stacks = collect_frame_stacks(TARGET_TASK, window, frame_size, LaneFollowingController(), seed=12345)
    queries = {1: stacks[:1], window: stacks}
    description = TASKS[TARGET_TASK].description
    print(f"{len(sources)} sources ({source_origin}), {sum(len(s.frames) for s in sources)} rows; "
          f"queries of {sorted(queries)} target stacks; autoencoder {autoencoder_dir}")

    rows = []
    for modality in MODALITIES:
        for metric in METRICS:
            service = SimilarityService.from_sources(sources, autoencoder_dir=str(autoencoder_dir), modality=modality, metric=metric)
            for count, target in queries.items():
                timing = percentiles_ms(lambda: service.scores(target, description), args.queries)
                rows.append({"mode": "in-process", "modality": modality, "metric": metric, "target_stacks": count,
                             "dim": service.info()["embedding_dim"], **timing})

    if not args.no_actor:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        for modality in MODALITIES:
            started = time.perf_counter()
            handle = get_or_create_similarity_service(
                f"latency-{modality}", {"autoencoder_dir": str(autoencoder_dir), "modality": modality}, sources=sources
            )
            startup_s = time.perf_counter() - started
            info = ray.get(handle.info.remote())
            for count, target in queries.items():
                timing = percentiles_ms(lambda: ray.get(handle.scores.remote(target, description)), args.queries)
                rows.append({"mode": "actor", "modality": modality, "metric": info["metric"], "target_stacks": count,
                             "dim": info["embedding_dim"], "actor_startup_s": round(startup_s, 1), **timing})
            ray.kill(handle)
        ray.shutdown()

    print("| mode | modality | metric | target stacks | dim | p50 (ms) | p95 (ms) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['mode']} | {row['modality']} | {row['metric']} | {row['target_stacks']} | {row['dim']} | "
              f"{row['p50_ms']:.2f} | {row['p95_ms']:.2f} |")
    write_json_atomically(args.out, {
        "target_task": TARGET_TASK,
        "sources": source_origin,
        "num_sources": len(sources),
        "source_rows": int(sum(len(s.frames) for s in sources)),
        "frame_size": frame_size,
        "autoencoder_dir": checkout_relative(autoencoder_dir),
        "torch_threads_in_process": args.threads,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "load_average_1min": round(os.getloadavg()[0], 2)},  # other work on the machine skews tails
        "rows": rows,
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
