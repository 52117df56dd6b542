"""Property-based tests of async code: hypothesis ``@given`` on ``async def`` tests, in strict mode.

Hypothesis also picks the interleaving: each job yields to the loop a drawn number
of times before it answers, so calls finish in a generated, replayable order.
"""

import asyncio
from typing import NamedTuple

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from .concurrent_map import map_concurrently

# 100 examples (hypothesis's default, written out), no per-example deadline: an async
# example's time includes event-loop overhead that swings on a busy machine.
PROPERTY = settings(max_examples=100, deadline=None)


class Job(NamedTuple):
    value: int
    yields: int  # how many times the call yields to the loop before it answers
    fails: bool = False


jobs = st.lists(st.builds(Job, st.integers(), st.integers(0, 4), st.just(False)), max_size=25)
limits = st.integers(min_value=1, max_value=8)


async def answer(job: Job) -> str:
    for _ in range(job.yields):
        await asyncio.sleep(0)  # no real time passes: the order is all hypothesis controls
    return f"<{job.value}>"


@PROPERTY
@given(batch=jobs, limit=limits)
@example(batch=[], limit=1)
@pytest.mark.asyncio
async def test_results_are_in_input_order_whatever_order_the_calls_finish_in(batch: list[Job], limit: int) -> None:
    results = await map_concurrently(answer, batch, limit=limit)

    assert results == [await answer(job) for job in batch]  # what a plain sequential loop gives


class Recorder:
    """``answer``, recording which calls ran, how many at once, and how each ended."""

    def __init__(self) -> None:
        self.running = self.peak = 0
        self.started: list[Job] = []
        self.ended: list[Job] = []  # finished, failed or cancelled
        self.started_before_first_failure: int | None = None

    async def __call__(self, job: Job) -> str:
        self.started.append(job)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            if job.fails:
                await answer(job)
                if self.started_before_first_failure is None:
                    self.started_before_first_failure = len(self.started)
                raise LookupError(job)
            return await answer(job)
        finally:
            self.running -= 1
            self.ended.append(job)


@PROPERTY
@given(batch=jobs, limit=limits)
@pytest.mark.asyncio
async def test_never_more_calls_at_once_than_the_limit(batch: list[Job], limit: int) -> None:
    record = Recorder()

    await map_concurrently(record, batch, limit=limit)

    assert record.peak <= limit
    assert sorted(record.started) == sorted(batch)  # each item called exactly once


waiting_jobs = st.lists(st.builds(Job, st.integers(), st.integers(1, 4), st.just(False)), max_size=25)


@PROPERTY
@given(batch=waiting_jobs, limit=limits)
@pytest.mark.asyncio
async def test_the_limit_is_used_when_calls_wait(batch: list[Job], limit: int) -> None:
    # Every call yields at least once, so the first `limit` calls are all in flight
    # together: "at most limit" alone would be met by running one call at a time.
    record = Recorder()

    await map_concurrently(record, batch, limit=limit)

    assert record.peak == min(limit, len(batch))


jobs_with_failures = st.lists(
    st.builds(Job, st.integers(), st.integers(0, 4), st.booleans()), min_size=1, max_size=25
).filter(lambda batch: any(job.fails for job in batch))


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
    assert sorted(record.ended) == sorted(record.started)
