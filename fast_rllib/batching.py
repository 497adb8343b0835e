"""Concurrent requests gathered into batches for one blocking call, with a bounded wait (pure asyncio).

Why: the similarity service is shared by every trial of a sweep. Its cost is the encoder pass, and one pass
over the stacks of many trials costs far less than one pass per trial, so the service's async ``scores``
puts each request here and awaits its own result. The pattern is Ray Serve's ``@serve.batch``
(``serve/batching.py``), which only works inside a Serve deployment and needs ``ray[serve]``.

The batch function runs on an executor, never on the event loop: an async Ray actor runs every call on its
loop thread, and a blocking encoder pass there would stall every client's call, liveness checks included.
Only one batch runs at a time; requests that arrive meanwhile wait and form the next batch.
"""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Callable, Generic, Protocol, Sequence, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")


class BatchObserver(Protocol):
    """What a queue reports as it works (the service exports it as Ray metrics)."""

    def queue_length(self, waiting: int) -> None: ...

    def batch_done(self, size: int, latencies_s: Sequence[float]) -> None: ...


@dataclass
class _Pending(Generic[Request, Result]):
    request: Request
    future: asyncio.Future
    submitted: float


def check_batching(max_batch_size: int, max_wait_s: float) -> None:
    """Raise ValueError naming the batching setting that no queue can work with."""
    if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or max_batch_size < 1:
        raise ValueError(f"max_batch_size={max_batch_size!r} must be an integer >= 1 (1: every request alone)")
    if isinstance(max_wait_s, bool) or not isinstance(max_wait_s, (int, float)) or not math.isfinite(max_wait_s) or max_wait_s < 0:
        raise ValueError(f"batch_wait_s={max_wait_s!r} must be a finite number of seconds >= 0")


class BatchQueue(Generic[Request, Result]):
    """Runs ``handle_batch`` on batches of submitted requests.

    A batch starts with the oldest waiting request and takes more until it holds ``max_batch_size`` or
    ``max_wait_s`` has passed since it started; requests already waiting join it either way.
    ``handle_batch`` returns one result per request, in order; an exception instance in a request's place is
    raised to that request's caller alone, and an exception of the whole call to every caller of the batch.
    """

    def __init__(
        self,
        handle_batch: Callable[[list[Request]], Sequence[Result | BaseException]],
        executor: Executor,
        *,
        max_batch_size: int,
        max_wait_s: float,
        observer: BatchObserver | None = None,
    ) -> None:
        check_batching(max_batch_size, max_wait_s)
        self._handle_batch = handle_batch
        self._executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait_s = float(max_wait_s)
        self._observer = observer
        self._queue: asyncio.Queue[_Pending[Request, Result]] | None = None
        self._worker: asyncio.Task | None = None
        self.batches = 0
        self.largest_batch = 0

    async def submit(self, request: Request) -> Result:
        """The request's result, once its batch has run."""
        loop = asyncio.get_running_loop()
        if self._queue is None:
            # Created on the first call: the queue and its worker belong to the loop that serves the calls.
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._serve())
        pending: _Pending[Request, Result] = _Pending(request, loop.create_future(), time.perf_counter())
        self._queue.put_nowait(pending)
        self._report_queue_length()
        return await pending.future

    async def _serve(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            deadline = asyncio.get_running_loop().time() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            self._report_queue_length()
            await self._run(batch)

    async def _run(self, batch: list[_Pending[Request, Result]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._handle_batch, [item.request for item in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"the batch function returned {len(results)} results for {len(batch)} requests")
        except Exception as error:  # noqa: BLE001  (whatever failed, every caller of the batch must hear of it)
            results = [error] * len(batch)
        finished = time.perf_counter()
        for item, result in zip(batch, results):
            if item.future.done():  # the caller gave up (its call was cancelled)
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(batch))
        if self._observer is not None:
            self._observer.batch_done(len(batch), [finished - item.submitted for item in batch])

    def _report_queue_length(self) -> None:
        if self._observer is not None and self._queue is not None:
            self._observer.queue_length(self._queue.qsize())
