"""Property-based tests of async code: hypothesis ``@given`` on ``async def`` tests.

pytest-asyncio 1.5 runs a ``@given`` async test directly: it hands hypothesis a
synchronous wrapper that runs each example's coroutine on the test's event
loop. Every example of one test shares that loop; function-scoped fixtures are
created once for all examples, so per-example state is built inside the test.

Hypothesis also chooses the *interleaving*: each job says how many times its
call yields to the event loop (``await asyncio.sleep(0)``) before it answers,
so the calls finish in a generated order, deterministically and in no real time.
"""

import asyncio
from typing import NamedTuple

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from .concurrent_map import map_concurrently

# 100 examples per property keeps this file well under a second. No deadline:
# an example's time includes the event loop's overhead, which varies on a busy
# machine, and a per-example deadline would make the tests flaky.
PROPERTY = settings(max_examples=100, deadline=None)


class Job(NamedTuple):
    value: int
    yields: int  # how many times the call yields to the loop before it answers
    fails: bool = False


values = st.integers(min_value=-1000, max_value=1000)
yield_counts = st.integers(min_value=0, max_value=4)
succeeds = st.just(False)
jobs = st.lists(st.builds(Job, values, yield_counts, succeeds), max_size=25)
waiting_jobs = st.lists(
    st.builds(Job, values, st.integers(min_value=1, max_value=4), succeeds), min_size=1, max_size=25
)
jobs_with_failures = st.lists(st.builds(Job, values, yield_counts, st.booleans()), min_size=1, max_size=25).filter(
    lambda batch: any(job.fails for job in batch)
)
limits = st.integers(min_value=1, max_value=8)


class Recorder:
    """The async function to map: it records which calls ran, and how many at once."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.started: list[Job] = []
        self.finished: list[Job] = []
        self.cancelled: list[Job] = []
        self.started_before_first_failure: int | None = None

    async def __call__(self, job: Job) -> str:
        self.started.append(job)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            for _ in range(job.yields):
                await asyncio.sleep(0)
            if job.fails:
                if self.started_before_first_failure is None:
                    self.started_before_first_failure = len(self.started)
                raise LookupError(job)
        except asyncio.CancelledError:
            self.cancelled.append(job)
            raise
        finally:
            self.running -= 1
        self.finished.append(job)
        return f"<{job.value}>"


@PROPERTY
@given(batch=jobs, limit=limits)
@example(batch=[], limit=1)
@pytest.mark.asyncio
async def test_results_are_in_input_order_whatever_order_the_calls_finish_in(batch: list[Job], limit: int) -> None:
    record = Recorder()

    results = await map_concurrently(record, batch, limit=limit)

    assert results == [f"<{job.value}>" for job in batch]
    assert sorted(record.started) == sorted(batch)  # each item called exactly once


@PROPERTY
@given(batch=jobs, limit=limits)
@pytest.mark.asyncio
async def test_never_more_calls_at_once_than_the_limit(batch: list[Job], limit: int) -> None:
    record = Recorder()

    await map_concurrently(record, batch, limit=limit)

    assert record.peak <= limit
    assert record.running == 0


@PROPERTY
@given(batch=waiting_jobs, limit=limits)
@pytest.mark.asyncio
async def test_the_limit_is_used_when_calls_wait(batch: list[Job], limit: int) -> None:
    # Every call yields at least once, so the first `limit` calls are all in
    # flight together: an implementation that ran them one by one fails here.
    record = Recorder()

    await map_concurrently(record, batch, limit=limit)

    assert record.peak == min(limit, len(batch))


@PROPERTY
@given(batch=jobs_with_failures, limit=limits)
# Found by hypothesis: a call that fails at once, with another worker already
# scheduled. The task group learns of the failure one loop iteration late.
@example(batch=[Job(0, 0, fails=True), Job(1, 0)], limit=2)
@pytest.mark.asyncio
async def test_a_failing_call_cancels_the_others_and_starts_no_new_ones(batch: list[Job], limit: int) -> None:
    record = Recorder()

    with pytest.raises(ExceptionGroup) as caught:
        await map_concurrently(record, batch, limit=limit)

    failures = [error.args[0] for error in caught.value.exceptions if isinstance(error, LookupError)]
    assert len(failures) == len(caught.value.exceptions)  # nothing but the calls' own errors
    assert all(job.fails for job in failures)
    assert record.running == 0  # nothing left running in the background
    assert len(record.started) == record.started_before_first_failure  # no call started after a failure
    assert sorted(record.finished + record.cancelled + failures) == sorted(record.started)


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
@pytest.mark.asyncio
async def test_a_limit_that_is_not_a_positive_integer_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        await map_concurrently(Recorder(), [Job(1, 0)], limit=limit)


SANDBOX_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
# randomly would shuffle the sandbox; xdist and aiohttp are not needed there.
SANDBOX_ARGS = ("-p", "no:randomly", "-p", "no:xdist", "-p", "no:aiohttp", "--tb=short")


def test_strict_mode_without_the_asyncio_mark_leaves_hypothesis_with_a_coroutine(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        """
        import pytest
        from hypothesis import given, strategies as st

        @given(st.integers())
        async def test_unmarked(number):
            assert number == number

        @given(st.integers())
        @pytest.mark.asyncio
        async def test_marked(number):
            assert number == number
        """
    )

    result = pytester.runpytest(*SANDBOX_ARGS)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*InvalidArgument: Hypothesis doesn't know how to run async test functions like test_unmarked.*"]
    )


def test_a_function_scoped_fixture_fails_the_health_check(pytester: pytest.Pytester) -> None:
    # The fixture would be created once and shared by every example, so state
    # leaks from one example into the next; hypothesis refuses to run it.
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        """
        import pytest, pytest_asyncio
        from hypothesis import given, strategies as st

        @pytest_asyncio.fixture
        async def seen():
            return []

        @given(st.integers())
        @pytest.mark.asyncio
        async def test_with_fixture(seen, number):
            seen.append(number)
            assert len(seen) == 1

        @given(st.integers())
        @pytest.mark.asyncio
        async def test_builds_its_own_state(number):
            seen = [number]
            assert len(seen) == 1
        """
    )

    result = pytester.runpytest(*SANDBOX_ARGS)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FailedHealthCheck: '*::test_with_fixture' uses a function-scoped fixture 'seen'."])


def test_the_default_deadline_fails_examples_that_take_real_time(pytester: pytest.Pytester) -> None:
    # A 1 ms deadline stands in for the default 200 ms one, to keep this quick:
    # any example slower than the deadline fails, and on a busy machine an async
    # example's time swings, so deadline-bound tests fail now and then.
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        """
        import asyncio
        from datetime import timedelta
        import pytest
        from hypothesis import given, settings, strategies as st

        @settings(deadline=timedelta(milliseconds=1))
        @given(st.just(0))
        @pytest.mark.asyncio
        async def test_with_deadline(number):
            await asyncio.sleep(0.005)

        @settings(deadline=None)
        @given(st.just(0))
        @pytest.mark.asyncio
        async def test_without_deadline(number):
            await asyncio.sleep(0.005)
        """
    )

    # Without hypothesis's pytest plugin: it would spend most of the run writing a patch file.
    result = pytester.runpytest(*SANDBOX_ARGS, "-p", "no:hypothesispytest")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*DeadlineExceeded: Test took *ms, which exceeds the deadline of 1.00ms.*"])
