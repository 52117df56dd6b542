"""Fetch a batch of items concurrently with ``asyncio.gather``.

Two policies for failures:

- ``fetch_all``: every result or an error. The first exception propagates at
  once; gather does *not* cancel the other fetches, they keep running.
- ``fetch_each``: one outcome per id. A failed fetch leaves its exception in its
  own slot, so one bad item does not hide the results of the others.

Both keep the order of ``ids``, whatever order the fetches finish in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

K = TypeVar("K")
T = TypeVar("T")


async def fetch_all(ids: Iterable[K], fetch_one: Callable[[K], Awaitable[T]]) -> list[T]:
    """Fetch every id concurrently; return the results in the order of ``ids``."""
    return await asyncio.gather(*(fetch_one(item_id) for item_id in ids))


async def fetch_each(ids: Iterable[K], fetch_one: Callable[[K], Awaitable[T]]) -> list[T | Exception]:
    """Like ``fetch_all``, but a failed fetch puts its exception in its own slot.

    A cancelled fetch is not an item's outcome: the batch raises ``CancelledError``
    instead of hiding it in the list, as plain ``return_exceptions=True`` would.
    """
    outcomes = await asyncio.gather(*(fetch_one(item_id) for item_id in ids), return_exceptions=True)
    results: list[T | Exception] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
        results.append(outcome)
    return results
