"""A fixed pool of workers that take jobs from a memory object stream, each job under a deadline.

Written against AnyIO alone (a task group, memory object streams, ``fail_after``), so the
same code runs on asyncio, on uvloop and on trio. The pool lives inside ``async with``:
its workers are tasks of a task group the block owns, and leaving the block lets them
finish the jobs already taken, then stops them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

T = TypeVar("T")
R = TypeVar("R")


class WorkerPool(Generic[T, R]):
    """Hands each submitted job to a free worker; ``submit`` waits while every worker is busy."""

    def __init__(self, jobs: MemoryObjectSendStream[tuple[T, MemoryObjectSendStream[R | Exception]]]) -> None:
        self._jobs = jobs

    async def submit(self, job: T) -> R:
        """Run ``job`` on the next free worker and return its result, or raise its error.

        A handler that runs past the pool's ``job_timeout`` is cancelled and ``TimeoutError``
        is raised here; the pool carries on with the next job.
        """
        send_reply, receive_reply = anyio.create_memory_object_stream[R | Exception](1)
        with receive_reply:
            try:
                await self._jobs.send((job, send_reply))
            except BaseException:  # cancelled while every worker was busy: no worker will close it
                send_reply.close()
                raise
            outcome = await receive_reply.receive()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@contextlib.asynccontextmanager
async def worker_pool(
    handler: Callable[[T], Awaitable[R]], *, workers: int, job_timeout: float
) -> AsyncIterator[WorkerPool[T, R]]:
    """Start ``workers`` tasks that run ``handler`` on the jobs submitted inside the block."""
    send_jobs, receive_jobs = anyio.create_memory_object_stream[tuple[T, MemoryObjectSendStream[R | Exception]]]()
    async with anyio.create_task_group() as group:
        with receive_jobs:
            for _ in range(workers):
                group.start_soon(_work, receive_jobs.clone(), handler, job_timeout)
        with send_jobs:
            yield WorkerPool(send_jobs)


async def _work(
    jobs: MemoryObjectReceiveStream[tuple[T, MemoryObjectSendStream[R | Exception]]],
    handler: Callable[[T], Awaitable[R]],
    job_timeout: float,
) -> None:
    with jobs:
        async for job, reply in jobs:
            outcome: R | Exception
            try:
                with anyio.fail_after(job_timeout):
                    outcome = await handler(job)
            except Exception as exc:  # the caller's to handle, TimeoutError included; cancellation is not
                outcome = exc
            with reply, contextlib.suppress(anyio.BrokenResourceError):
                reply.send_nowait(outcome)  # a caller that was cancelled meanwhile no longer listens
