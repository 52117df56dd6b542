"""Checks of an ExceptionGroup that pass for the wrong error, miss it, or refuse a bare one."""

from collections.abc import Awaitable, Callable, Mapping

import pytest

from .fan_out import run_all
from .test_fan_out import raising

pytest_plugins = ["pytester"]

# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
FAST = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]


def test_exception_group_pitfalls_in_a_sandbox(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # One failing fan-out, three checks: the bare group check passes although the
    # error is a bug; the precise one says what it got; a plain `pytest.raises(TypeError)`
    # never matches an error inside a group.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
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
    result = pytester.runpytest(*FAST)

    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       Failed: Raised exception group did not match: `TypeError()` is not an instance of `LookupError`",
            "*_ test_plain_raises _*",
            "  | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)",
            "    | TypeError: unsupported operand type(s) for +: 'NoneType' and 'int'",
            # fnmatch reads [...] as a character class: [[] and []] are literal brackets
            "*::test_plain_raises - TypeError(*) [[]single exception in ExceptionGroup[]]*",
        ]
    )


@pytest.mark.asyncio
async def test_a_bare_raises_exception_group_also_passes_for_the_wrong_error() -> None:
    # The doc's `pytest.raises(ExceptionGroup)` accepts any group at all, here one
    # holding a TypeError from a bug instead of the expected LookupError.
    with pytest.raises(ExceptionGroup) as excinfo:
        await run_all({"buggy": raising(TypeError("unsupported operand"))})

    precise = pytest.RaisesGroup(LookupError)
    assert not precise.matches(excinfo.value)
    assert precise.fail_reason == "`TypeError()` is not an instance of `LookupError`"


@pytest.mark.asyncio
async def test_group_contains_finds_an_error_but_misses_extra_ones() -> None:
    # `group_contains` answers "is there a LookupError somewhere?", never "and nothing else".
    with pytest.raises(ExceptionGroup) as excinfo:
        await run_all({"lookup": raising(LookupError("no item")), "buggy": raising(TypeError("oops"))})

    assert excinfo.group_contains(LookupError, match="no item", depth=1)
    assert not pytest.RaisesGroup(LookupError).matches(excinfo.value)
    assert pytest.RaisesGroup(LookupError, TypeError).matches(excinfo.value)


async def load(jobs: Mapping[str, Callable[[], Awaitable[int]]]) -> dict[str, int]:
    """A shortcut some callers take: a single job is awaited directly, so its error is not wrapped."""
    if len(jobs) == 1:
        ((name, job),) = jobs.items()
        return {name: await job()}
    return await run_all(jobs)


@pytest.mark.asyncio
async def test_raises_group_refuses_a_bare_exception_unless_allowed() -> None:
    refused = (
        r"^Raised exception group did not match: "
        r"`ValueError\(\)` is not an exception group, but would match with `allow_unwrapped=True`$"
    )
    with pytest.raises(pytest.fail.Exception, match=refused), pytest.RaisesGroup(ValueError):
        await load({"parse": raising(ValueError("bad number"))})

    async def fine() -> int:
        return 1

    # allow_unwrapped=True accepts the error bare or alone in a group, as `except*` would.
    either = pytest.RaisesGroup(ValueError, allow_unwrapped=True)
    with either:
        await load({"parse": raising(ValueError("bad number"))})
    with either:
        await load({"parse": raising(ValueError("bad number")), "fine": fine})


@pytest.mark.asyncio
async def test_passing_a_coroutine_instead_of_the_function_fails_inside_the_group() -> None:
    async def total() -> int:
        return 1

    started = total()  # the mistake: calling the job instead of handing it over
    try:
        with pytest.RaisesGroup(pytest.RaisesExc(TypeError, match=r"^'coroutine' object is not callable\n")):
            await run_all({"total": started})  # type: ignore[arg-type]  # mypy catches it too
    finally:
        started.close()  # never awaited: close it, or its RuntimeWarning fails a later test
