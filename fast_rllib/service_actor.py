"""The similarity service as the Ray actor every trial of a sweep queries at once.

An async actor (``async def scores``): calls from many trials are in flight together, wait in a
:class:`~fast_rllib.batching.BatchQueue`, and each batch goes through the encoders in one pass
(:meth:`SimilarityService.scores_many`); every query is still scored on its own, so its answer equals what
the plain :class:`~fast_rllib.service.SimilarityService` gives for it alone. With ``max_batch_size=1`` every
query has an encoder pass of its own (the comparison ``benchmarks/service_scale.py`` measures).

The actor counts requests per client (FAST sends its trial's name), so a test or an operator can see which
trials a service answers. Counts, like everything else the actor holds, start again after a restart.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from fast_rllib.batching import BatchQueue
from fast_rllib.repository.loading import SourceTask
from fast_rllib.service import SimilarityService
from fast_rllib.service_metrics import ServiceMetrics

# The client name of a query that gives none (a script or benchmark asking directly).
ANONYMOUS_CLIENT = "anonymous"


class SharedSimilarityService:
    """A :class:`SimilarityService` behind a batch queue, with per-client request counts and Ray metrics."""

    def __init__(
        self,
        *,
        name: str,
        max_batch_size: int,
        batch_wait_s: float,
        sources: Sequence[SourceTask] | None = None,
        **settings: Any,
    ) -> None:
        self._service = SimilarityService(sources=sources, **settings)
        # One thread owns the encoders: one batch at a time, and a description check waits its turn.
        self._encoder_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="similarity-encoders")
        self._queue: BatchQueue[tuple[np.ndarray, str | None], dict[str, float]] = BatchQueue(
            self._service.scores_many,
            self._encoder_thread,
            max_batch_size=max_batch_size,
            max_wait_s=batch_wait_s,
            observer=ServiceMetrics(name),
        )
        self._client_requests: Counter[str] = Counter()

    async def scores(self, target_stacks: np.ndarray, description: str | None = None, client: str | None = None) -> dict[str, float]:
        """One score per source for uint8 (N, 4, S, S) target stacks, answered with the other queries waiting."""
        self._client_requests[client or ANONYMOUS_CLIENT] += 1
        return await self._queue.submit((target_stacks, description))

    async def check_description(self, description: str | None) -> None:
        """:meth:`SimilarityService.check_description`, on the encoders' thread."""
        await asyncio.get_running_loop().run_in_executor(self._encoder_thread, self._service.check_description, description)

    def stats(self) -> dict[str, Any]:
        """Requests per client since this actor (re)started, how they were batched, and what the service's
        process has cost: CPU seconds (every thread, set-up included) and peak resident memory, which grow
        with the repository and the load."""
        return {
            "client_requests": dict(self._client_requests),
            "batches": self._queue.batches,
            "largest_batch": self._queue.largest_batch,
            "cpu_s": time.process_time(),
            # Linux reports ru_maxrss in KiB.
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }

    def info(self) -> dict[str, Any]:
        return {**self._service.info(), "max_batch_size": self._queue.max_batch_size, "batch_wait_s": self._queue.max_wait_s}

    def settings(self) -> dict[str, Any]:
        return self._service.settings()

    def source_names(self) -> list[str]:
        return self._service.source_names()

    def ping(self) -> bool:
        """Cheap liveness check (used after a restart)."""
        return True
