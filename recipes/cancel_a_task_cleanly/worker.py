"""A long-running worker that borrows a pool slot and gives it back when it is cancelled.

The worker takes jobs from a queue forever; the way to stop it is ``task.cancel()``.
Cancellation may arrive at any ``await``. Wherever it lands, the worker

- never leaves a job's commit half done: the commit runs to the end, shielded;
- gives its pool slot back;
- re-raises ``CancelledError``, so whoever cancelled it sees that it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class PoolExhaustedError(RuntimeError):
    """Every slot of the pool is in use."""


class Pool:
    """A fixed number of slots (think: database connections) that must be given back."""

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"pool size must be a whole number of at least 1, got {size!r}")
        self.size = size
        self.in_use = 0

    def acquire(self) -> None:
        if self.in_use >= self.size:
            raise PoolExhaustedError(f"all {self.size} slots are in use")
        self.in_use += 1

    def release(self) -> None:
        if self.in_use == 0:
            raise RuntimeError("release() without a matching acquire()")
        self.in_use -= 1


async def finish_even_if_cancelled(critical: Awaitable[T]) -> T:
    """Run ``critical`` to its end, even if the caller is cancelled meanwhile.

    ``asyncio.shield`` alone only protects the inner task: the caller would stop
    waiting at once and carry on (here: give back its pool slot) while the critical
    part still runs. This waits for it, then re-raises the cancellation. If the
    critical part itself fails, its error is raised instead.
    """
    task = asyncio.ensure_future(critical)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            cancelled = exc  # remembered, not swallowed: raised once the task is done
    if cancelled is not None:
        raise cancelled
    return task.result()


class Worker:
    """Commits each job from ``jobs`` with ``commit``, holding one pool slot for its whole life."""

    def __init__(self, pool: Pool, jobs: asyncio.Queue[str], commit: Callable[[str], Awaitable[None]]) -> None:
        self._pool = pool
        self._jobs = jobs
        self._commit = commit
        self.started = asyncio.Event()  # set once the slot is held: safe to cancel from here on

    async def run(self) -> None:
        if self.started.is_set():
            raise RuntimeError("this worker has already run; create a new Worker")
        self._pool.acquire()
        try:
            self.started.set()
            while True:
                job = await self._jobs.get()
                try:
                    await finish_even_if_cancelled(self._commit(job))
                finally:
                    self._jobs.task_done()
        finally:
            self._pool.release()
