"""Run an async operation under a deadline, with an error that says what ran out of time.

``asyncio.timeout`` does the work; this module tells its own expiry apart from any other
``TimeoutError`` and names the operation in the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """The operation did not finish in time; still caught by ``except TimeoutError``."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} did not finish within {seconds:g} s")


async def with_deadline(operation: Callable[[], Awaitable[T]], seconds: float, *, what: str = "operation") -> T:
    """Await ``operation()`` and return its result, or cancel it after ``seconds``.

    On expiry the operation is cancelled, its cleanup runs, and ``DeadlineExceeded``
    is raised, also when the operation caught the cancellation and returned late.
    A ``TimeoutError`` the operation raises by itself passes through unchanged: it
    is not this deadline's doing.
    """
    timeout = asyncio.timeout(seconds)
    try:
        async with timeout:
            result = await operation()
    except TimeoutError as exc:
        _raise_if_expired(timeout, what, seconds, exc)
        raise
    # Expired without an error: the operation swallowed its cancellation and returned late.
    _raise_if_expired(timeout, what, seconds, None)
    return result


def _raise_if_expired(timeout: asyncio.Timeout, what: str, seconds: float, cause: BaseException | None) -> None:
    # A separate function on purpose: on Python 3.11, coverage misses lines run in a
    # coroutine after a cancellation was swallowed below it (CPython issue 106749).
    if timeout.expired():
        raise DeadlineExceeded(what, seconds) from cause
