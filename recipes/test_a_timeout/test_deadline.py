"""Test timeouts without waiting for them: the slow side waits on an Event that never fires."""

import asyncio

import pytest

from .deadline import DeadlineExceeded, with_deadline

TINY = 0.005  # the only real waiting in this file: a deadline that must run out
GENEROUS = 10.0  # for calls that must finish in time, so a busy machine cannot make them flaky


class SlowOperation:
    """Never finishes on its own (it waits on an Event nobody sets), and records how it ended."""

    def __init__(self) -> None:
        self.cancelled = False
        self.cleaned_up = False

    async def __call__(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.cleaned_up = True  # stands for: give the connection back, delete the temp file...


@pytest.fixture
def slow() -> SlowOperation:
    return SlowOperation()


async def answer() -> int:
    await asyncio.sleep(0)  # suspends once, like any real I/O
    return 42


@pytest.mark.asyncio
async def test_a_call_that_finishes_in_time_returns_its_value() -> None:
    assert await with_deadline(answer, GENEROUS) == 42


@pytest.mark.asyncio
async def test_a_call_that_runs_out_of_time_is_cancelled_cleaned_up_and_named(slow: SlowOperation) -> None:
    with pytest.raises(DeadlineExceeded, match=r"^fetch prices did not finish within 0\.005 s$") as excinfo:
        await with_deadline(slow, TINY, what="fetch prices")

    assert slow.cancelled
    assert slow.cleaned_up
    assert isinstance(excinfo.value, TimeoutError)  # existing `except TimeoutError` blocks still catch it
    assert isinstance(excinfo.value.__cause__, TimeoutError)


@pytest.mark.asyncio
async def test_wait_for_raises_timeout_error_after_the_inner_coroutine_cleaned_up(slow: SlowOperation) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(slow(), timeout=TINY)

    # wait_for returns only once the cancelled coroutine has finished its cleanup: no waiting needed.
    assert slow.cancelled
    assert slow.cleaned_up


@pytest.mark.asyncio
async def test_the_operations_own_timeout_error_is_not_blamed_on_the_deadline() -> None:
    async def upstream_gave_up() -> str:
        raise TimeoutError("upstream answered 504")

    with pytest.raises(TimeoutError, match="upstream answered 504") as excinfo:
        await with_deadline(upstream_gave_up, GENEROUS)

    assert type(excinfo.value) is TimeoutError


@pytest.mark.asyncio
async def test_an_outer_deadline_that_fires_first_is_not_reported_as_this_one(slow: SlowOperation) -> None:
    with pytest.raises(TimeoutError) as excinfo:
        async with asyncio.timeout(TINY):
            await with_deadline(slow, GENEROUS)

    assert type(excinfo.value) is TimeoutError
    assert slow.cleaned_up


@pytest.mark.asyncio
async def test_an_operation_that_swallows_cancellation_still_misses_its_deadline() -> None:
    cancelled = asyncio.Event()

    async def stubborn() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            return "late"  # the bug: cancellation caught and not re-raised
        return "on time"

    with pytest.raises(DeadlineExceeded, match=r"^operation did not finish within 0\.005 s$") as excinfo:
        await with_deadline(stubborn, TINY)

    assert cancelled.is_set()
    assert excinfo.value.__cause__ is None
