"""A fixed pool of asyncio workers that take jobs from one bounded queue.

Producers ``await pool.submit(job)``; when the queue is full they wait, which is
the back-pressure that keeps a fast producer from piling up work in memory.
A job whose handler raises is recorded in ``pool.failures`` and its worker moves
on to the next job. ``shutdown()`` refuses new jobs, waits for every queued job
to be handled (``Queue.join``), then stops the workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Self, TypeVar

Job = TypeVar("Job")


@dataclass(frozen=True)
class Failure(Generic[Job]):
    """A job whose handler raised, and what it raised."""

    job: Job
    error: Exception


class WorkerPool(Generic[Job]):
    """``workers`` tasks share one queue of at most ``max_pending`` waiting jobs."""

    def __init__(self, handler: Callable[[Job], Awaitable[None]], *, workers: int = 4, max_pending: int = 100) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if max_pending < 1:
            raise ValueError(
                f"max_pending must be at least 1, got {max_pending}: an unbounded queue has no back-pressure"
            )
        self._handler = handler
        self._size = workers
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=max_pending)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.completed = 0
        self.failures: list[Failure[Job]] = []

    @property
    def workers(self) -> tuple[asyncio.Task[None], ...]:
        return tuple(self._tasks)

    @property
    def pending(self) -> int:
        """Jobs waiting in the queue (not counting the ones being handled)."""
        return self._queue.qsize()

    def start(self) -> None:
        if self._tasks or self._closing:
            raise RuntimeError("a pool can be started only once")
        self._tasks = [asyncio.create_task(self._work(), name=f"worker-{n}") for n in range(self._size)]

    async def submit(self, job: Job) -> None:
        """Queue ``job``; waits while the queue is full."""
        if self._closing:
            raise RuntimeError("the pool is shutting down and takes no new jobs")
        if not self._tasks:
            raise RuntimeError("start the pool before submitting jobs: nobody would handle them")
        await self._queue.put(job)

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._handler(job)
            except Exception as exc:  # a poison job must not kill the worker
                self.failures.append(Failure(job, exc))
            else:
                self.completed += 1
            finally:
                self._queue.task_done()  # exactly once per get(), whatever happened

    async def join(self) -> None:
        """Wait until every job submitted so far has been handled."""
        await self._queue.join()

    async def shutdown(self) -> None:
        """Refuse new jobs, handle every queued one, then stop the workers.

        Finish producing first: a ``submit`` that starts after this call raises
        ``RuntimeError``. To bound the wait, wrap the call in ``asyncio.timeout``:
        the workers are stopped on that way out too.
        """
        self._closing = True
        try:
            await self.join()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()
