"""Test a TaskGroup fan-out: results, precise ExceptionGroup matching, cancelled siblings."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from .fan_out import TASK_NAME_PREFIX, run_all

# Every wait in this file is bounded: a broken module fails fast instead of hanging.
WAIT = 1.0

GROUP_MESSAGE = r"^unhandled errors in a TaskGroup$"


def returning(value: int) -> Callable[[], Awaitable[int]]:
    async def job() -> int:
        await asyncio.sleep(0)
        return value

    return job


def raising(exc: Exception) -> Callable[[], Awaitable[int]]:
    async def job() -> int:
        raise exc  # before any await: fails in its first step

    return job


class Sibling:
    """A job that runs until it is cancelled, and records what happened to it."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.was_cancelled = False
        self.cleaned_up = False
        self.task: asyncio.Task[object] | None = None

    async def run(self) -> int:
        self.task = asyncio.current_task()
        self.started.set()
        try:
            await asyncio.Event().wait()  # nobody will ever set it
        except asyncio.CancelledError:
            self.was_cancelled = True
            raise
        finally:
            self.cleaned_up = True
        raise AssertionError("unreachable: the wait above only ends by cancellation")


def failing_after(sibling: Sibling, exc: Exception) -> Callable[[], Awaitable[int]]:
    """A job that fails only once the sibling is surely running."""

    async def job() -> int:
        await sibling.started.wait()
        raise exc

    return job


@pytest.mark.asyncio
async def test_results_are_returned_by_name_in_the_order_of_the_jobs() -> None:
    async with asyncio.timeout(WAIT):
        results = await run_all({"b": returning(2), "a": returning(1), "c": returning(3)})

    assert list(results.items()) == [("b", 2), ("a", 1), ("c", 3)]


@pytest.mark.asyncio
async def test_jobs_run_at_the_same_time() -> None:
    barrier = asyncio.Barrier(3)  # passes only when all three jobs are waiting at it

    def job(value: int) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            await barrier.wait()
            return value

        return run

    async with asyncio.timeout(WAIT):
        assert await run_all({"x": job(1), "y": job(2), "z": job(3)}) == {"x": 1, "y": 2, "z": 3}


@pytest.mark.asyncio
async def test_each_task_is_named_after_its_job() -> None:
    async def report_task_name() -> str:
        task = asyncio.current_task()
        assert task is not None
        return task.get_name()

    results = await run_all({"orders": report_task_name, "users": report_task_name})

    assert results == {"orders": f"{TASK_NAME_PREFIX}orders", "users": f"{TASK_NAME_PREFIX}users"}


@pytest.mark.asyncio
async def test_no_jobs_gives_an_empty_result() -> None:
    assert await run_all({}) == {}


@pytest.mark.asyncio
async def test_one_failure_raises_a_group_holding_exactly_that_error() -> None:
    # RaisesGroup demands a group with exactly these exceptions and no others;
    # RaisesExc pins the type and the message, and `match` sees the notes too.
    with pytest.RaisesGroup(
        pytest.RaisesExc(LookupError, match=r"^no item 7\nin fan-out job 'lookup'$"),
        match=GROUP_MESSAGE,
    ):
        async with asyncio.timeout(WAIT):
            await run_all({"ok": returning(1), "lookup": raising(LookupError("no item 7"))})


@pytest.mark.asyncio
async def test_the_error_in_the_group_is_the_very_one_the_job_raised() -> None:
    boom = ConnectionResetError("upstream went away")

    with pytest.RaisesGroup(pytest.RaisesExc(check=lambda exc: exc is boom)) as excinfo:
        await run_all({"fetch": raising(boom)})

    assert excinfo.value.exceptions == (boom,)
    assert boom.__notes__ == ["in fan-out job 'fetch'"]


@pytest.mark.asyncio
async def test_a_bare_raises_exception_group_also_passes_for_the_wrong_error() -> None:
    # The doc's `pytest.raises(ExceptionGroup)` is satisfied by any group at all,
    # here one holding a TypeError from a bug instead of the expected LookupError.
    with pytest.raises(ExceptionGroup) as excinfo:
        await run_all({"buggy": raising(TypeError("unsupported operand"))})

    precise = pytest.RaisesGroup(LookupError)
    assert not precise.matches(excinfo.value)
    assert precise.fail_reason == "`TypeError()` is not an instance of `LookupError`"


@pytest.mark.asyncio
async def test_group_contains_finds_an_error_but_misses_extra_ones() -> None:
    # `group_contains` answers "is there a LookupError somewhere?"; it cannot
    # say "and nothing else". RaisesGroup can.
    with pytest.raises(ExceptionGroup) as excinfo:
        await run_all({"lookup": raising(LookupError("no item")), "buggy": raising(TypeError("oops"))})

    assert excinfo.group_contains(LookupError, match="no item", depth=1)
    assert not pytest.RaisesGroup(LookupError).matches(excinfo.value)
    assert pytest.RaisesGroup(LookupError, TypeError).matches(excinfo.value)


@pytest.mark.asyncio
async def test_siblings_are_cancelled_when_one_job_fails() -> None:
    sibling = Sibling()

    with pytest.RaisesGroup(pytest.RaisesExc(TimeoutError, match="quota service")):
        async with asyncio.timeout(WAIT):
            await run_all({"slow": sibling.run, "quota": failing_after(sibling, TimeoutError("quota service"))})

    assert sibling.was_cancelled
    assert sibling.cleaned_up
    # The group waited for the cancelled sibling: it is finished, not left running.
    assert sibling.task is not None
    assert sibling.task.cancelled()


@pytest.mark.asyncio
async def test_two_failures_both_appear_in_the_group() -> None:
    # Both jobs raise in their first step, before the group can cancel either.
    with pytest.RaisesGroup(
        pytest.RaisesExc(PermissionError, match="job 'orders'"),
        pytest.RaisesExc(LookupError, match="job 'users'"),
        match=GROUP_MESSAGE,
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
async def test_allow_unwrapped_accepts_the_same_error_bare_or_in_a_group() -> None:
    # A blank name is refused before any task starts, so that ValueError is bare;
    # a job's ValueError comes wrapped. `allow_unwrapped` matches both, like `except*`.
    either = pytest.RaisesGroup(ValueError, allow_unwrapped=True)

    with either:
        await run_all({" ": returning(1)})
    with either:
        await run_all({"parse": raising(ValueError("bad number"))})
    # Without allow_unwrapped, RaisesGroup refuses a bare exception:
    refused = r"`ValueError\(\)` is not an exception group, but would match with `allow_unwrapped=True`"
    with pytest.raises(pytest.fail.Exception, match=refused), pytest.RaisesGroup(ValueError):
        await run_all({"": returning(1)})


@pytest.mark.asyncio
async def test_cancelling_the_caller_cancels_every_job_without_a_group() -> None:
    first, second = Sibling(), Sibling()
    caller = asyncio.create_task(run_all({"first": first.run, "second": second.run}))
    async with asyncio.timeout(WAIT):
        await first.started.wait()
        await second.started.wait()

    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(WAIT):
            await caller

    assert (first.was_cancelled, second.was_cancelled) == (True, True)
    assert (first.cleaned_up, second.cleaned_up) == (True, True)


@pytest.mark.asyncio
async def test_a_blank_job_name_is_refused_before_any_job_starts() -> None:
    ran = asyncio.Event()

    async def job() -> int:
        ran.set()
        return 1

    with pytest.raises(ValueError, match="job names must be non-blank strings, got ''"):
        await run_all({"fine": job, "": job})
    assert not ran.is_set()


@pytest.mark.asyncio
async def test_passing_a_coroutine_instead_of_the_function_is_a_clear_error() -> None:
    async def total() -> int:
        return 1

    started = total()  # the mistake: calling the job instead of handing it over
    try:
        with pytest.raises(TypeError, match="job 'total' is not callable: pass the async function itself"):
            await run_all({"total": started})  # type: ignore[arg-type]  # mypy catches it too
    finally:
        started.close()  # never awaited: close it, or its RuntimeWarning fails the run


SANDBOX_CONFIG = "[pytest]\nasyncio_default_fixture_loop_scope = function\nasyncio_default_test_loop_scope = function\n"
# A fixed order inside the sandbox, and no hypothesis plugin: pytester restores
# sys.modules after each in-process run, so that plugin would be re-imported every time.
SANDBOX_ARGS = ("-p", "no:randomly", "-p", "no:hypothesispytest")


def test_exception_group_pitfalls_in_a_sandbox(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three tests of the same failing fan-out: the bare group check passes
    # although the error is a bug; the precise check says what it got; and a
    # plain `pytest.raises(TypeError)` never matches an error inside a group.
    pytester.makeini(SANDBOX_CONFIG)
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def fan_out():
            async def buggy():
                return None + 1

            async with asyncio.TaskGroup() as group:
                group.create_task(buggy())

        @pytest.mark.asyncio
        async def test_bare_group():
            with pytest.raises(ExceptionGroup):
                await fan_out()

        @pytest.mark.asyncio
        async def test_precise_group():
            with pytest.RaisesGroup(LookupError):
                await fan_out()

        @pytest.mark.asyncio
        async def test_plain_raises():
            with pytest.raises(TypeError):
                await fan_out()
        """
    )
    monkeypatch.setenv("COLUMNS", "200")  # keep the summary lines whole
    result = pytester.runpytest(*SANDBOX_ARGS)

    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       Failed: Raised exception group did not match: `TypeError()` is not an instance of `LookupError`",
            "*_ test_plain_raises _*",
            "  | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)",
            "    | TypeError: unsupported operand type(s) for +: 'NoneType' and 'int'",
            # fnmatch reads [...] as a character class: [[] and []] are literal brackets
            "*::test_plain_raises - TypeError(*) [[]single exception in ExceptionGroup[]]",
        ]
    )
