"""Test timeouts without waiting for them: the slow side waits on an Event that never fires."""

import asyncio
import math
from dataclasses import dataclass, field

import pytest

from .deadline import DeadlineExceeded, check_deadline, with_deadline

TINY = 0.005  # the only real waiting in this file: a deadline that must run out
GENEROUS = 10.0  # for calls that must finish in time, so a busy machine cannot make them flaky


@dataclass
class SlowOperation:
    """An operation that never finishes on its own, and reports how it ended."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    never: asyncio.Event = field(default_factory=asyncio.Event)  # nobody sets it
    calls: int = 0
    cancelled: bool = False
    cleaned_up: bool = False

    async def __call__(self) -> str:
        self.calls += 1
        self.started.set()
        try:
            await self.never.wait()
            return "finished"
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


# --- What asyncio itself does ----------------------------------------------------------


@pytest.mark.asyncio
async def test_asyncio_timeout_raises_timeout_error_and_cancels_the_body(slow: SlowOperation) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(TINY):
            await slow()

    assert slow.cancelled
    assert slow.cleaned_up


@pytest.mark.asyncio
async def test_wait_for_raises_timeout_error_after_the_inner_coroutine_cleaned_up(slow: SlowOperation) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(slow(), timeout=TINY)

    # wait_for returns only once the cancelled coroutine has finished its cleanup.
    assert slow.cancelled
    assert slow.cleaned_up


@pytest.mark.asyncio
async def test_asyncio_timeout_error_is_the_builtin_timeout_error(slow: SlowOperation) -> None:
    # From Python 3.11 they are one class, so the older spelling still catches it.
    assert asyncio.TimeoutError is TimeoutError
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(slow(), timeout=TINY)


@pytest.mark.parametrize("delay", [0, -1])
@pytest.mark.asyncio
async def test_asyncio_accepts_a_deadline_already_in_the_past_and_expires_at_once(delay: float) -> None:
    # No error for a nonsense deadline: even a call that would finish at once times out.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(delay):
            await answer()


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


# --- with_deadline ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_call_that_finishes_in_time_returns_its_value() -> None:
    assert await with_deadline(answer, GENEROUS) == 42


@pytest.mark.asyncio
async def test_a_call_that_runs_out_of_time_is_cancelled_cleaned_up_and_named(slow: SlowOperation) -> None:
    with pytest.raises(DeadlineExceeded, match=r"^fetch prices did not finish within 0\.005 s$") as excinfo:
        await with_deadline(slow, TINY, what="fetch prices")

    assert slow.cancelled
    assert slow.cleaned_up
    assert (excinfo.value.what, excinfo.value.seconds) == ("fetch prices", TINY)
    assert isinstance(excinfo.value.__cause__, TimeoutError)


@pytest.mark.asyncio
async def test_deadline_exceeded_is_caught_as_a_timeout_error(slow: SlowOperation) -> None:
    with pytest.raises(TimeoutError, match="operation did not finish"):
        await with_deadline(slow, TINY)


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
            return "late"
        return "on time"

    with pytest.raises(DeadlineExceeded, match=r"^refresh cache did not finish within 0\.005 s$") as excinfo:
        await with_deadline(stubborn, TINY, what="refresh cache")

    assert cancelled.is_set()
    assert excinfo.value.what == "refresh cache"
    assert excinfo.value.__cause__ is None


@pytest.mark.parametrize("seconds", [0, -0.0, -1, math.nan, math.inf, -math.inf])
@pytest.mark.asyncio
async def test_a_deadline_that_is_not_a_positive_finite_number_is_refused(slow: SlowOperation, seconds: float) -> None:
    with pytest.raises(ValueError, match="deadline must be a finite number of seconds above zero, got"):
        await with_deadline(slow, seconds)

    assert slow.calls == 0  # refused before the operation started


@pytest.mark.parametrize(("seconds", "type_name"), [("5", "str"), (None, "NoneType"), (True, "bool")])
@pytest.mark.asyncio
async def test_a_deadline_that_is_not_a_number_is_a_type_error(
    slow: SlowOperation, seconds: object, type_name: str
) -> None:
    with pytest.raises(TypeError, match=f"^deadline must be a number of seconds, not {type_name}$"):
        await with_deadline(slow, seconds)  # type: ignore[arg-type]  # the point of the test
    assert slow.calls == 0


@pytest.mark.parametrize(("seconds", "expected"), [(1, 1.0), (0.25, 0.25), (1e-9, 1e-9)])
def test_a_valid_deadline_is_returned_as_a_float(seconds: float, expected: float) -> None:
    checked = check_deadline(seconds)
    assert checked == expected
    assert type(checked) is float


# --- Pitfall ---------------------------------------------------------------------------


def test_asyncio_timeout_without_async_with_is_a_type_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def answer():
            return 42

        @pytest.mark.asyncio
        async def test_plain_with():
            with asyncio.timeout(1):
                assert await answer() == 42

        @pytest.mark.asyncio
        async def test_async_with():
            async with asyncio.timeout(1):
                assert await answer() == 42
        """
    )

    result = pytester.runpytest("-W", "error")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["E *TypeError: 'Timeout' object does not support the context manager protocol"])
