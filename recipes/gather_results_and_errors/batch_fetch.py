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
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

MAX_BATCH_SIZE = 500


def check_ids(ids: Sequence[Hashable]) -> None:
    """Refuse a batch that cannot be what the caller meant."""
    if isinstance(ids, str | bytes):
        raise TypeError(f"ids must be a sequence of ids, not one {type(ids).__name__}")
    if len(ids) > MAX_BATCH_SIZE:
        raise ValueError(f"batch of {len(ids)} ids is too large: split it into batches of at most {MAX_BATCH_SIZE}")
    duplicates = [item_id for item_id, count in Counter(ids).items() if count > 1]
    if duplicates:
        raise ValueError(f"duplicate ids in batch: {duplicates!r}")


async def fetch_all(ids: Sequence[K], fetch_one: Callable[[K], Awaitable[T]]) -> list[T]:
    """Fetch every id concurrently; return the results in the order of ``ids``."""
    check_ids(ids)
    return await asyncio.gather(*(fetch_one(item_id) for item_id in ids))


async def fetch_each(ids: Sequence[K], fetch_one: Callable[[K], Awaitable[T]]) -> list[T | Exception]:
    """Like ``fetch_all``, but a failed fetch puts its exception in its own slot.

    Cancellation is not a per-item outcome: a fetch that was cancelled makes the
    whole batch raise ``CancelledError`` instead of hiding it in the list.
    """
    check_ids(ids)
    outcomes = await asyncio.gather(*(fetch_one(item_id) for item_id in ids), return_exceptions=True)
    results: list[T | Exception] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
        results.append(outcome)
    return results
