"""Run named jobs side by side in an ``asyncio.TaskGroup`` and collect their results.

All or nothing: as soon as one job fails, the group cancels the jobs that are
still running, waits for them, and raises an ``ExceptionGroup`` holding every
failure. Each failure gets a note naming its job, so the traceback says which
one broke.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

T = TypeVar("T")


async def _run_job(name: str, job: Callable[[], Awaitable[T]]) -> T:
    try:
        return await job()
    except Exception as exc:
        exc.add_note(f"in fan-out job {name!r}")
        raise


async def run_all(jobs: Mapping[str, Callable[[], Awaitable[T]]]) -> dict[str, T]:
    """Run every job concurrently and return ``{name: result}`` in the order of ``jobs``.

    Raises ``ExceptionGroup`` with every job's failure; cancelling the caller
    cancels every job and raises ``CancelledError``.
    """
    async with asyncio.TaskGroup() as group:
        tasks = {name: group.create_task(_run_job(name, job)) for name, job in jobs.items()}
    return {name: task.result() for name, task in tasks.items()}
