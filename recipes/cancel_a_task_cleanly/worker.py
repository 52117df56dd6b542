"""A long-running worker that borrows a pooled connection and gives it back when it is cancelled.

The worker takes jobs from a queue forever; the way to stop it is ``task.cancel()``.
Cancellation may arrive at any ``await``. Wherever it lands, the worker

- never leaves a job's commit half done: the commit runs to the end, shielded;
- gives its connection back to the pool;
- re-raises ``CancelledError``, so whoever cancelled it sees that it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class Pool:
    """Connections that a holder must give back; ``idle`` lists those not handed out."""

    def __init__(self, *connections: str) -> None:
        self.idle = list(connections)

    def acquire(self) -> str:
        return self.idle.pop()

    def release(self, connection: str) -> None:
        self.idle.append(connection)


async def finish_even_if_cancelled(critical: Awaitable[T]) -> T:
    """Run ``critical`` to its end, even if the caller is cancelled meanwhile.

    ``asyncio.shield`` alone only protects the inner task: the caller would stop
    waiting at once and carry on (here: give back its connection) while the critical
    part still runs. This waits for it, then re-raises the cancellation.
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
    """Commits each job from ``jobs`` with ``commit``, holding one connection for its whole life."""

    def __init__(self, pool: Pool, jobs: asyncio.Queue[str], commit: Callable[[str], Awaitable[None]]) -> None:
        self._pool = pool
        self._jobs = jobs
        self._commit = commit
        self.started = asyncio.Event()  # set once the connection is held: safe to cancel from here on

    async def run(self) -> None:
        connection = self._pool.acquire()
        try:
            self.started.set()
            while True:
                job = await self._jobs.get()
                try:
                    await finish_even_if_cancelled(self._commit(job))
                finally:
                    self._jobs.task_done()
        finally:
            self._pool.release(connection)
