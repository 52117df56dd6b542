"""Test a TaskGroup fan-out: results, precise ExceptionGroup matching, cancelled siblings."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from .fan_out import run_all

WAIT = 1.0  # every wait is bounded: a broken module fails fast instead of hanging
GROUP_MESSAGE = r"^unhandled errors in a TaskGroup$"  # RaisesGroup drops the " (1 sub-exception)" suffix


def returning(value: int) -> Callable[[], Awaitable[int]]:
    async def job() -> int:
        await asyncio.sleep(0)  # suspends once, like real I/O
        return value

    return job


def raising(exc: Exception) -> Callable[[], Awaitable[int]]:
    async def job() -> int:
        raise exc  # before any await: fails in its first step

    return job


@pytest.mark.asyncio
async def test_results_are_returned_by_name_in_the_order_of_the_jobs() -> None:
    results = await run_all({"b": returning(2), "a": returning(1), "c": returning(3)})

    assert list(results.items()) == [("b", 2), ("a", 1), ("c", 3)]


@pytest.mark.asyncio
async def test_one_failure_raises_a_group_holding_exactly_that_error() -> None:
    missing = LookupError("no item 7")
    # RaisesGroup wants exactly these exceptions and no others; RaisesExc pins the
    # type and the message, and its `match` sees the note run_all added.
    with pytest.RaisesGroup(
        pytest.RaisesExc(LookupError, match=r"^no item 7\nin fan-out job 'lookup'$"), match=GROUP_MESSAGE
    ) as excinfo:
        await run_all({"ok": returning(1), "lookup": raising(missing)})

    assert excinfo.value.exceptions == (missing,)  # the very object the job raised


class Sibling:
    """A job that runs until it is cancelled, and records that it was cancelled and cleaned up."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = self.cleaned_up = False

    async def run(self) -> int:
        self.started.set()
        try:
            await asyncio.Event().wait()  # nobody sets it: only cancellation ends this wait
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.cleaned_up = True
        raise AssertionError("unreachable")


@pytest.mark.asyncio
async def test_siblings_are_cancelled_when_one_job_fails() -> None:
    sibling = Sibling()

    async def quota() -> int:
        await sibling.started.wait()  # fail only once the sibling surely runs
        raise TimeoutError("quota service")

    with pytest.RaisesGroup(pytest.RaisesExc(TimeoutError, match="^quota service")):
        async with asyncio.timeout(WAIT):
            await run_all({"slow": sibling.run, "quota": quota})

    assert sibling.cancelled
    assert sibling.cleaned_up  # the group waited for it: nothing is left running


@pytest.mark.asyncio
async def test_two_failures_both_appear_in_the_group() -> None:
    # Both jobs raise in their first step, before the group can cancel either.
    with pytest.RaisesGroup(
        pytest.RaisesExc(PermissionError, match="job 'orders'"),
        pytest.RaisesExc(LookupError, match="job 'users'"),
    ) as excinfo:
        await run_all(
            {
                "users": raising(LookupError("no such user")),
                "orders": raising(PermissionError("orders are private")),
                "fine": returning(1),
            }
        )

    # RaisesGroup ignores order; the group itself keeps the order of failure.
    assert [type(exc) for exc in excinfo.value.exceptions] == [LookupError, PermissionError]


@pytest.mark.asyncio
async def test_a_nested_fan_out_nests_the_groups() -> None:
    async def inner() -> dict[str, int]:
        return await run_all({"deep": raising(LookupError("deep item"))})

    outer = {"inner": inner, "ok": returning(1)}

    with pytest.RaisesGroup(pytest.RaisesGroup(pytest.RaisesExc(LookupError, match="job 'deep'"))):
        await run_all(outer)
    # When the structure does not matter, flatten it.
    with pytest.RaisesGroup(LookupError, flatten_subgroups=True):
        await run_all(outer)


@pytest.mark.asyncio
async def test_cancelling_the_caller_cancels_every_job_without_a_group() -> None:
    first, second = Sibling(), Sibling()
    caller = asyncio.create_task(run_all({"first": first.run, "second": second.run}))
    async with asyncio.timeout(WAIT):
        await first.started.wait()
        await second.started.wait()

    caller.cancel()
    with pytest.raises(asyncio.CancelledError):  # a plain CancelledError, not an ExceptionGroup
        await caller

    assert (first.cancelled, second.cancelled) == (True, True)
    assert (first.cleaned_up, second.cleaned_up) == (True, True)
