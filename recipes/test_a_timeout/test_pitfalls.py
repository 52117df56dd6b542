"""Mistakes around asyncio's timeouts, each shown with the error (or the silence) it gives."""

import asyncio

import pytest

TINY = 0.005


@pytest.mark.asyncio
async def test_asyncio_timeout_without_async_with_is_a_type_error() -> None:
    async def answer() -> int:
        return 42

    # asyncio.timeout is an async context manager only.
    with pytest.raises(TypeError, match=r"^'Timeout' object does not support the context manager protocol"):
        with asyncio.timeout(1):  # type: ignore[attr-defined]  # the mistake under test
            await answer()  # never runs: the `with` fails first

    async with asyncio.timeout(1):
        assert await answer() == 42


@pytest.mark.asyncio
async def test_an_operation_that_swallows_cancellation_defeats_a_bare_asyncio_timeout() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "late"  # the bug: cancellation caught and not re-raised
        return "on time"

    async with asyncio.timeout(TINY):
        value = await stubborn()

    assert value == "late"  # no TimeoutError at all: the deadline passed unnoticed


@pytest.mark.asyncio
async def test_asyncio_timeout_error_is_the_builtin_timeout_error() -> None:
    # From Python 3.11 they are one class, so the doc's spelling and the builtin catch the same error.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.Event().wait(), timeout=TINY)
