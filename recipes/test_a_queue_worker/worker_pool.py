"""A fixed pool of asyncio workers that take jobs from one bounded queue.

Producers ``await pool.submit(job)``; when the queue is full they wait, which is
the back-pressure that keeps a fast producer from piling up work in memory.
A job whose handler raises is recorded in ``pool.failures`` and its worker moves
on to the next job. ``async with WorkerPool(...)`` starts the workers; leaving the
block (or ``shutdown()``) refuses new jobs, waits for every queued job to be
handled (``Queue.join``), then stops the workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Generic, Self, TypeVar

Job = TypeVar("Job")


class WorkerPool(Generic[Job]):
    """``workers`` tasks share one queue of at most ``max_pending`` waiting jobs."""

    def __init__(self, handler: Callable[[Job], Awaitable[None]], *, workers: int, max_pending: int) -> None:
        self._handler = handler
        self._size = workers
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=max_pending)  # 0 would mean unbounded
        self.workers: list[asyncio.Task[None]]  # started by `async with`
        self._closing = False
        self.failures: list[tuple[Job, Exception]] = []  # (job, what its handler raised)

    @property
    def pending(self) -> int:
        """Jobs waiting in the queue (not counting the ones being handled)."""
        return self._queue.qsize()

    async def submit(self, job: Job) -> None:
        """Queue ``job``; waits while the queue is full."""
        if self._closing:
            raise RuntimeError("the pool is shutting down and takes no new jobs")
        await self._queue.put(job)

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._handler(job)
            except Exception as exc:  # a poison job must not kill the worker
                self.failures.append((job, exc))
            finally:
                self._queue.task_done()  # exactly once per get(), whatever happened

    async def shutdown(self) -> None:
        """Refuse new jobs, handle every queued one, then stop the workers.

        To bound the wait, wrap the call in ``asyncio.timeout``: the workers are
        stopped on that way out too.
        """
        self._closing = True
        try:
            await self._queue.join()
        finally:
            for task in self.workers:
                task.cancel()
            await asyncio.gather(*self.workers, return_exceptions=True)

    async def __aenter__(self) -> Self:
        self.workers = [asyncio.create_task(self._work()) for _ in range(self._size)]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()
