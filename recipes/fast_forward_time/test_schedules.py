"""Retry backoff and a periodic job, tested in virtual time: hours of schedule in milliseconds.

``in_virtual_time`` runs an async test on async-solipsism's event loop. That
loop never blocks: when every task is waiting on a timer, it moves its clock
straight to the next timer. ``loop.time()``, ``asyncio.sleep`` and
``asyncio.timeout`` all follow that clock, so a schedule can be asserted
to the microsecond and a 30-second deadline costs no real time.
"""

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec
from unittest.mock import AsyncMock

import async_solipsism  # type: ignore[import-untyped]  # the package ships no type hints
import pytest
from pytest_mock import MockerFixture

from .schedules import Backoff, GaveUp, retry, run_every

P = ParamSpec("P")
NO_JITTER = Backoff(first=0.5, factor=2, cap=30, jitter=0)


def in_virtual_time(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test to completion on its own virtual-time loop.

    The decorated test is a plain function as far as pytest and pytest-asyncio
    are concerned, so it needs no asyncio mark, and no plugin or setting (such
    as a uvloop run of the whole suite) can swap the loop under it.
    """

    @functools.wraps(test)
    def run_on_virtual_clock(*args: P.args, **kwargs: P.kwargs) -> None:
        with asyncio.Runner(loop_factory=async_solipsism.EventLoop) as runner:
            runner.run(test(*args, **kwargs))

    return run_on_virtual_clock


class FlakyCall:
    """An operation that fails ``failures`` times, then answers; it notes when each attempt started."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("upstream refused")
        self.started_at: list[float] = []

    async def __call__(self) -> str:
        loop = asyncio.get_running_loop()
        self.started_at.append(loop.time())
        if len(self.started_at) <= self.failures:
            raise self.error
        return "answer"


def since_start(times: list[float]) -> list[float]:
    return [round(t - times[0], 6) for t in times]


# ----- retry -----


@in_virtual_time
async def test_succeeds_on_the_fifth_attempt_after_exact_backoff_delays() -> None:
    call = FlakyCall(failures=4)

    assert await retry(call, deadline=60, backoff=NO_JITTER) == "answer"

    # waits of 0.5, 1, 2 and 4 seconds between the attempts
    assert since_start(call.started_at) == [0, 0.5, 1.5, 3.5, 7.5]


@in_virtual_time
async def test_first_success_returns_without_waiting() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    call = FlakyCall(failures=0)

    assert await retry(call, deadline=60) == "answer"
    assert loop.time() == start
    assert len(call.started_at) == 1


@in_virtual_time
async def test_delays_stop_growing_at_the_cap() -> None:
    call = FlakyCall(failures=5)

    await retry(call, deadline=60, backoff=Backoff(first=1, factor=10, cap=5, jitter=0))

    assert since_start(call.started_at) == [0, 1, 6, 11, 16, 21]


@in_virtual_time
async def test_a_factor_of_1_keeps_every_delay_the_same() -> None:
    call = FlakyCall(failures=3)

    await retry(call, deadline=60, backoff=Backoff(first=2, factor=1, jitter=0))

    assert since_start(call.started_at) == [0, 2, 4, 6]


@in_virtual_time
async def test_jitter_shortens_each_delay_by_at_most_its_fraction() -> None:
    call = FlakyCall(failures=6)
    backoff = Backoff(first=1, factor=2, cap=100, jitter=0.5)

    await retry(call, deadline=600, backoff=backoff, rng=random.Random(7))

    gaps = [b - a for a, b in zip(call.started_at, call.started_at[1:], strict=False)]
    full = [1, 2, 4, 8, 16, 32]
    assert all(f * 0.5 <= gap <= f for gap, f in zip(gaps, full, strict=True)), gaps
    assert gaps != full, "jitter did not change any delay"


@in_virtual_time
async def test_same_seed_gives_the_same_jittered_schedule() -> None:
    first, second = FlakyCall(failures=4), FlakyCall(failures=4)
    backoff = Backoff(jitter=1)

    await retry(first, deadline=60, backoff=backoff, rng=random.Random(42))
    await retry(second, deadline=60, backoff=backoff, rng=random.Random(42))

    assert since_start(first.started_at) == since_start(second.started_at)


@pytest.mark.parametrize("deadline", [30, 31])
@in_virtual_time
async def test_gives_up_when_the_next_attempt_could_not_start_before_the_deadline(deadline: float) -> None:
    call = FlakyCall(failures=1000)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(100)  # the clock is not at zero when retry starts: elapsed counts from the call
    start = loop.time()

    with pytest.raises(GaveUp, match=r"gave up after 5 attempt\(s\) in 15.000s") as caught:
        await retry(call, deadline=deadline, backoff=Backoff(first=1, factor=2, cap=60, jitter=0))

    # attempts at 0, 1, 3, 7, 15; the next one would start at 31 s, too late: no pointless sleep
    assert since_start(call.started_at) == [0, 1, 3, 7, 15]
    assert loop.time() - start == 15
    assert (caught.value.attempts, caught.value.elapsed) == (5, 15)
    assert isinstance(caught.value.__cause__, ConnectionError)


@in_virtual_time
async def test_a_hung_attempt_is_cancelled_exactly_at_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(100)  # the clock is not at zero when retry starts
    start = loop.time()
    wall_start = time.monotonic()
    cancelled_at: list[float] = []

    async def hangs() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled_at.append(loop.time() - start)
            raise

    with pytest.raises(GaveUp, match=r"after 1 attempt\(s\) in 30.000s") as caught:
        await retry(hangs, deadline=30)

    assert cancelled_at == [30]
    assert (caught.value.attempts, caught.value.elapsed) == (1, 30)
    assert isinstance(caught.value.__cause__, TimeoutError)
    # 30 seconds on the loop's clock, almost nothing on the wall clock
    assert time.monotonic() - wall_start < 5


@in_virtual_time
async def test_a_hung_attempt_after_failures_keeps_the_last_failure_as_the_cause() -> None:
    call = FlakyCall(failures=2)

    async def fails_twice_then_hangs() -> str:
        if len(call.started_at) == 2:
            await asyncio.sleep(3600)
        return await call()

    with pytest.raises(GaveUp, match=r"after 3 attempt\(s\) in 10.000s") as caught:
        await retry(fails_twice_then_hangs, deadline=10, backoff=NO_JITTER)

    assert isinstance(caught.value.__cause__, ConnectionError)


@in_virtual_time
async def test_a_timeout_error_from_the_operation_is_retried_by_default() -> None:
    call = FlakyCall(failures=2, error=TimeoutError("upstream took too long"))

    assert await retry(call, deadline=60, backoff=NO_JITTER) == "answer"
    assert since_start(call.started_at) == [0, 0.5, 1.5]


@in_virtual_time
async def test_an_error_not_listed_in_retry_on_propagates_at_once() -> None:
    call = FlakyCall(failures=3, error=PermissionError("bad credentials"))

    with pytest.raises(PermissionError, match="bad credentials"):
        await retry(call, deadline=60)

    assert len(call.started_at) == 1


@in_virtual_time
async def test_the_operations_own_timeout_error_is_not_mistaken_for_the_deadline() -> None:
    call = FlakyCall(failures=1, error=TimeoutError("upstream took too long"))

    with pytest.raises(TimeoutError, match="upstream took too long"):
        await retry(call, deadline=60, retry_on=(ConnectionError,))


@in_virtual_time
async def test_a_deadline_under_a_second_is_honoured() -> None:
    call = FlakyCall(failures=1000)

    with pytest.raises(GaveUp, match=r"after 2 attempt\(s\) in 0.250s"):
        await retry(call, deadline=0.5, backoff=Backoff(first=0.25, jitter=0))

    assert since_start(call.started_at) == [0, 0.25]


@pytest.mark.parametrize("deadline", [0, -1])
@in_virtual_time
async def test_a_deadline_that_is_not_positive_is_refused(deadline: float) -> None:
    with pytest.raises(ValueError, match=f"^deadline must be positive, got {deadline}$"):
        await retry(FlakyCall(failures=0), deadline=deadline)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"first": 0}, "need 0 < first <= cap"),
        ({"first": 10, "cap": 5}, "need 0 < first <= cap"),
        ({"factor": 0.5}, "factor must be at least 1"),
        ({"jitter": 1.5}, "jitter must be between 0 and 1"),
        ({"jitter": -0.1}, "jitter must be between 0 and 1"),
    ],
)
def test_bad_backoff_settings_are_refused(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**settings)


# ----- run_every -----


@in_virtual_time
async def test_runs_once_a_minute_through_a_virtual_hour() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    wall_start = time.monotonic()
    runs: list[float] = []

    async def job() -> None:
        runs.append(loop.time() - start)

    runner = asyncio.create_task(run_every(60, job))
    await asyncio.sleep(3600 - 1)
    runner.cancel()

    assert runs == [60.0 * n for n in range(60)]
    assert time.monotonic() - wall_start < 5


@in_virtual_time
async def test_a_slow_job_does_not_make_the_schedule_drift() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    runs: list[float] = []

    async def slow_job() -> None:
        runs.append(loop.time() - start)
        await asyncio.sleep(25)

    runner = asyncio.create_task(run_every(60, slow_job))
    await asyncio.sleep(250)
    runner.cancel()

    assert runs == [0, 60, 120, 180, 240]


@in_virtual_time
async def test_an_overrunning_job_skips_the_ticks_it_missed(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    runs: list[float] = []

    async def job() -> None:
        runs.append(loop.time() - start)
        if len(runs) == 1:
            await asyncio.sleep(150)  # overruns the 60 s interval by two and a half ticks

    runner = asyncio.create_task(run_every(60, job))
    await asyncio.sleep(300 - 1)
    runner.cancel()

    assert runs == [0, 180, 240]
    assert caplog.messages == ["periodic job overran its interval: skipped 2 tick(s)"]


@in_virtual_time
async def test_a_job_that_lasts_exactly_one_interval_runs_again_at_once(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    runs: list[float] = []

    async def job() -> None:
        runs.append(loop.time() - start)
        await asyncio.sleep(60)

    runner = asyncio.create_task(run_every(60, job))
    await asyncio.sleep(180 - 1)
    runner.cancel()

    assert runs == [0, 60, 120]
    assert caplog.messages == []  # right on time: no tick was missed, so none is reported skipped


@in_virtual_time
async def test_a_failing_job_is_logged_and_the_schedule_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    runs: list[float] = []

    async def job() -> None:
        runs.append(loop.time() - start)
        if len(runs) == 2:
            raise RuntimeError("disk full")

    runner = asyncio.create_task(run_every(10, job))
    await asyncio.sleep(35)
    runner.cancel()

    assert runs == [0, 10, 20, 30]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert failures[0].getMessage() == "periodic job failed; it runs again at the next tick"
    assert failures[0].exc_info is not None
    assert "disk full" in str(failures[0].exc_info[1])


@in_virtual_time
async def test_cancelling_the_runner_stops_the_schedule() -> None:
    runs = 0

    async def job() -> None:
        nonlocal runs
        runs += 1

    runner = asyncio.create_task(run_every(60, job))
    await asyncio.sleep(90)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    await asyncio.sleep(600)

    assert runner.cancelled()
    assert runs == 2


@in_virtual_time
async def test_an_interval_under_a_second_is_honoured() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    runs: list[float] = []

    async def job() -> None:
        runs.append(loop.time() - start)

    runner = asyncio.create_task(run_every(0.25, job))
    await asyncio.sleep(0.9)
    runner.cancel()

    assert runs == [0, 0.25, 0.5, 0.75]


@pytest.mark.parametrize("interval", [0, -60])
@in_virtual_time
async def test_an_interval_that_is_not_positive_is_refused(interval: float) -> None:
    async def job() -> None:
        raise AssertionError("must not run")

    with pytest.raises(ValueError, match=f"^interval must be positive, got {interval}$"):
        await run_every(interval, job)


# ----- what the virtual clock does and does not cover -----


@in_virtual_time
async def test_only_the_loop_clock_moves_the_wall_clock_does_not() -> None:
    loop = asyncio.get_running_loop()
    loop_start, wall_start = loop.time(), time.monotonic()

    await asyncio.sleep(30)

    assert loop.time() - loop_start == 30
    assert time.monotonic() - wall_start < 5  # code that reads time.monotonic() sees no time pass


def test_waiting_for_something_that_never_comes_fails_at_once_instead_of_hanging() -> None:
    async def waits_forever() -> None:
        await asyncio.Event().wait()  # nobody will ever set it

    with (
        asyncio.Runner(loop_factory=async_solipsism.EventLoop) as runner,
        pytest.raises(async_solipsism.SleepForeverError, match="select with no timeout and no ready events"),
    ):
        runner.run(waits_forever())


def test_a_lone_sleep_of_a_day_or_more_looks_like_sleeping_forever() -> None:
    # asyncio caps one select() wait at 24 hours; async-solipsism reads a wait that
    # long as "forever". It only bites when no other timer is due within the day.
    with asyncio.Runner(loop_factory=async_solipsism.EventLoop) as runner:
        runner.run(asyncio.sleep(24 * 3600 - 1))
        with pytest.raises(async_solipsism.SleepForeverError):
            runner.run(asyncio.sleep(24 * 3600))


@in_virtual_time
async def test_the_virtual_loop_cannot_reach_real_servers() -> None:
    with pytest.raises(ConnectionRefusedError, match=r"No socket listening on 127\.0\.0\.1:8080"):
        await asyncio.open_connection("127.0.0.1", 8080)


@pytest.mark.asyncio
async def test_patching_out_sleep_skips_the_waits_and_the_deadline_with_them(mocker: MockerFixture) -> None:
    # The usual shortcut, on the ordinary loop: make asyncio.sleep return at once.
    # The test is fast, but the loop clock stands still, so the 5-second deadline
    # never arrives: retry keeps going long after it should have given up.
    fake_sleep = mocker.patch("asyncio.sleep", new=AsyncMock())
    call = FlakyCall(failures=100)

    assert await retry(call, deadline=5, backoff=Backoff(first=1, cap=1, jitter=0)) == "answer"

    assert len(call.started_at) == 101  # on a real or virtual clock it gives up after 5 attempts
    assert fake_sleep.await_count == 100


SHARED_SESSION_FIXTURE = """
import pytest, pytest_asyncio

SETUPS = []

@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def expensive():
    SETUPS.append(1)
    yield

@pytest.mark.asyncio(loop_scope="session")
async def test_before(expensive):
    assert len(SETUPS) == 1

@pytest.mark.asyncio(loop_scope="session")
async def test_after(expensive):
    assert len(SETUPS) == 1, "the session fixture was set up again"
"""
# Plugins the sandbox does not need cost ~0.1 s per run each; randomly would reorder RUN_ORDER.
SANDBOX_ARGS = ("-p", "no:randomly", "-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:aiohttp")
RUN_ORDER = ["test_shared.py::test_before", "virtual/test_virtual.py", "test_shared.py::test_after"]


def test_a_folder_level_loop_factory_hook_recreates_session_fixtures_elsewhere(pytester: pytest.Pytester) -> None:
    # The wrong way for a mixed suite: a `pytest_asyncio_loop_factories` hook in a
    # sub-folder's conftest.py. The hook applies only to that folder, but switching
    # loop factory tears down pytest-asyncio's session runner, and with it every
    # session-scoped async fixture in the run.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n")
    pytester.makepyfile(test_shared=SHARED_SESSION_FIXTURE)
    virtual = pytester.mkpydir("virtual")
    (virtual / "conftest.py").write_text(
        "import async_solipsism\n\n"
        "def pytest_asyncio_loop_factories(config, item):\n"
        "    return {'virtual': async_solipsism.EventLoop}\n"
    )
    (virtual / "test_virtual.py").write_text(
        "import asyncio, pytest\n\n"
        "@pytest.mark.asyncio\n"
        "async def test_sleeps_a_minute():\n"
        "    await asyncio.sleep(60)\n"
    )

    result = pytester.runpytest(*SANDBOX_ARGS, *RUN_ORDER)

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the session fixture was set up again", "FAILED *test_after*"])


def test_a_loop_of_its_own_leaves_session_fixtures_alone(pytester: pytest.Pytester) -> None:
    # The fix this recipe uses: the virtual-time test builds its own loop with
    # asyncio.Runner, so pytest-asyncio's loops and fixtures never notice it.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n")
    pytester.makepyfile(test_shared=SHARED_SESSION_FIXTURE)
    virtual = pytester.mkpydir("virtual")
    (virtual / "test_virtual.py").write_text(
        "import asyncio, async_solipsism\n\n"
        "def test_sleeps_a_minute():\n"
        "    with asyncio.Runner(loop_factory=async_solipsism.EventLoop) as runner:\n"
        "        runner.run(asyncio.sleep(60))\n"
    )

    result = pytester.runpytest(*SANDBOX_ARGS, *RUN_ORDER)

    result.assert_outcomes(passed=3)
