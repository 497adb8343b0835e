"""The similarity service's live figures (Prometheus, through ``ray.util.metrics``), tagged by service name.

A sweep's trials share one service: these show whether it keeps up (requests waiting), whether batching
works (requests per encoder pass) and what a query costs inside the service (queued to answered). FAST's own
``fast_similarity_latency_ms`` is the round trip each trial sees, network included.
"""

from __future__ import annotations

from typing import Sequence

from ray.util import metrics

# Shared with FAST's per-trial round-trip histogram (fast/telemetry.py), so the two read side by side.
LATENCY_BOUNDARIES_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]
BATCH_SIZE_BOUNDARIES = [1, 2, 4, 8, 16, 32, 64, 128]


class ServiceMetrics:
    """A :class:`fast_rllib.batching.BatchObserver` that exports what it observes."""

    def __init__(self, service: str) -> None:
        self._tags = {"service": service}
        self._queue = metrics.Gauge(
            "fast_service_queue_length", "Similarity queries waiting for the next encoder pass", tag_keys=("service",)
        )
        self._batch = metrics.Histogram(
            "fast_service_batch_size",
            "Similarity queries answered by one encoder pass",
            boundaries=BATCH_SIZE_BOUNDARIES,
            tag_keys=("service",),
        )
        self._latency = metrics.Histogram(
            "fast_service_latency_ms",
            "Time from a query's arrival at the service to its answer",
            boundaries=LATENCY_BOUNDARIES_MS,
            tag_keys=("service",),
        )

    def queue_length(self, waiting: int) -> None:
        self._queue.set(float(waiting), tags=self._tags)

    def batch_done(self, size: int, latencies_s: Sequence[float]) -> None:
        self._batch.observe(float(size), tags=self._tags)
        for latency in latencies_s:
            self._latency.observe(latency * 1000.0, tags=self._tags)
