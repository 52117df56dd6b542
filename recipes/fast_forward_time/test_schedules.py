"""Retry backoff and a periodic job in virtual time: the loop's clock jumps to the next timer, so hours take ms."""

import asyncio
import functools
import itertools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

import async_solipsism  # type: ignore[import-untyped]  # the package ships no type hints
import pytest

from .schedules import GaveUp, retry, run_every

P = ParamSpec("P")


def in_virtual_time(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test on a virtual-time loop of its own: to pytest it is a plain test, with no asyncio mark."""

    @functools.wraps(test)
    def run_on_virtual_clock(*args: P.args, **kwargs: P.kwargs) -> None:
        with asyncio.Runner(loop_factory=async_solipsism.EventLoop) as runner:
            runner.run(test(*args, **kwargs))

    return run_on_virtual_clock


class FlakyCall:
    """Fails ``failures`` times, then answers; notes the loop time at which each attempt started."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures, self.error, self.started_at = failures, error, list[float]()

    async def __call__(self) -> str:
        self.started_at.append(asyncio.get_running_loop().time())
        if len(self.started_at) <= self.failures:
            raise self.error(f"attempt {len(self.started_at)} failed")
        return "answer"

    def schedule(self) -> list[float]:
        return [round(t - self.started_at[0], 6) for t in self.started_at]


@in_virtual_time
async def test_succeeds_on_the_fifth_attempt_after_exact_backoff_delays() -> None:
    call = FlakyCall(failures=4)

    assert await retry(call, deadline=60, jitter=0) == "answer"
    assert call.schedule() == [0, 0.5, 1.5, 3.5, 7.5]  # waits of 0.5, 1, 2 and 4 s, exactly


@in_virtual_time
async def test_a_hung_attempt_is_cancelled_exactly_at_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(100)  # the clock is not at zero when retry starts: elapsed counts from the call
    start = loop.time()
    cancelled_at: list[float] = []

    async def hangs() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled_at.append(loop.time() - start)
            raise

    with pytest.raises(GaveUp, match=r"^gave up after 1 attempt\(s\) in 30\.000s$") as caught:
        await retry(hangs, deadline=30)

    assert cancelled_at == [30]
    assert isinstance(caught.value.__cause__, TimeoutError)


@in_virtual_time
async def test_runs_once_a_minute_through_a_virtual_hour() -> None:
    loop = asyncio.get_running_loop()
    start, runs = loop.time(), list[float]()

    async def job() -> None:
        runs.append(loop.time() - start)

    runner = asyncio.create_task(run_every(60, job))
    await asyncio.sleep(3600 - 1)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner

    assert runs == [60.0 * n for n in range(60)]


@in_virtual_time
async def test_gives_up_at_the_deadline_with_the_last_failure_as_the_cause() -> None:
    call = FlakyCall(failures=1000, error=TimeoutError)  # the operation's own TimeoutError is retried too

    with pytest.raises(GaveUp, match=r"^gave up after 9 attempt\(s\) in 30\.000s$") as caught:
        await retry(call, deadline=30, first_delay=1, cap=4, jitter=0)

    assert call.schedule() == [0, 1, 3, 7, 11, 15, 19, 23, 27]  # 1, 2, then 4 s at the cap; the last sleep is cut
    assert str(caught.value.__cause__) == "attempt 9 failed"


@in_virtual_time
async def test_default_delays_double_up_to_30_s_less_a_random_part_of_a_tenth() -> None:
    call = FlakyCall(failures=8)
    await retry(call, deadline=600, rng=lambda: 0.5)  # stands in for random.random: no chance left in the test

    gaps = [round(b - a, 6) for a, b in itertools.pairwise(call.started_at)]
    assert gaps == [0.475, 0.95, 1.9, 3.8, 7.6, 15.2, 28.5, 28.5]  # 0.5 s doubling to 30 s, each less 0.5 * 10%


@in_virtual_time
async def test_an_error_not_in_retry_on_passes_through_at_once_even_a_timeout_error() -> None:
    call = FlakyCall(failures=1, error=TimeoutError)
    with pytest.raises(TimeoutError, match=r"^attempt 1 failed$") as caught:
        await retry(call, deadline=60, retry_on=(ConnectionError,))
    assert type(caught.value) is TimeoutError  # the operation's own error, not mistaken for the deadline
    assert len(call.started_at) == 1


@pytest.mark.parametrize(
    ("steps", "starts", "logged"),
    [
        ([25] * 5, [0, 60, 120, 180, 240], []),  # a slow job does not make the schedule drift
        ([60] * 5, [0, 60, 120, 180, 240], []),  # a job of exactly one interval misses no tick
        ([150, 0, 0], [0, 180, 240], ["periodic job overran its interval: skipped 2 tick(s)"]),
        ([0, OSError("disk full"), 0, 0, 0], [0, 60, 120, 180, 240], ["periodic job failed; the schedule goes on"]),
    ],
)
@in_virtual_time
async def test_ticks_are_anchored_to_the_start(
    steps: list[float | Exception], starts: list[float], logged: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    start, runs = loop.time(), list[float]()

    async def job() -> None:  # each run takes its step: sleeps that long, or raises it
        runs.append(loop.time() - start)
        step = steps[len(runs) - 1]
        if isinstance(step, Exception):
            raise step
        await asyncio.sleep(step)

    runner = asyncio.create_task(run_every(60, job))
    await asyncio.sleep(250)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner

    assert runs == starts
    assert caplog.messages == logged
