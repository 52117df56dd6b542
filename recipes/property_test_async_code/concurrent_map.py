"""Apply an async function to many inputs, a bounded number at a time, keeping input order.

Typical use: fetch 500 URLs with at most 10 requests in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def map_concurrently(func: Callable[[T], Awaitable[R]], items: Iterable[T], *, limit: int) -> list[R]:
    """Return ``[await func(item) for item in items]``, running up to ``limit`` calls at once.

    Results come back in input order, whatever order the calls finish in. If a
    call raises, the calls still running are cancelled, no new call starts, and
    the error is raised inside an ``ExceptionGroup`` (as ``asyncio.TaskGroup`` does).
    """
    numbered = list(enumerate(items))
    results: dict[int, R] = {}
    queue = iter(numbered)
    failed = False

    async def worker() -> None:
        nonlocal failed
        # All workers share one iterator: each item is taken by exactly one of them.
        # next() never awaits, so no other worker can run in between.
        for index, item in queue:
            if failed:
                return
            try:
                results[index] = await func(item)
            except Exception:
                # The task group hears of the failure only on the loop's next
                # iteration; until then the other workers must not start new calls.
                failed = True
                raise

    async with asyncio.TaskGroup() as group:
        for _ in range(min(limit, len(numbered))):
            group.create_task(worker())
    return [results[index] for index in range(len(numbered))]
