"""1. Waiting: one retry-with-backoff scenario in real time and in virtual time.

The scenario is the fast_forward_time recipe's ``retry``: an upstream that
refuses five times and answers on the sixth attempt, a backoff of 0.25 s
doubling each time, and a 10 s deadline. The attempts start at 0, 0.25, 0.75,
1.75, 3.75 and 7.75 s, so real time waits 7.75 s for it. On async-solipsism's
loop, which jumps its clock to the next timer whenever every task is waiting,
the same schedule costs only the CPU work, loop creation included (as the
recipe's ``in_virtual_time`` creates a loop per test).
"""

from __future__ import annotations

import asyncio
import time

import async_solipsism  # type: ignore[import-untyped]  # the package ships no type hints

from recipes.fast_forward_time.schedules import retry

from .harness import Comparison, Row, Target, alternate, times

FAILURES = 5
DEADLINE = 10.0
FIRST_DELAY, FACTOR, CAP = 0.25, 2.0, 30.0
EXPECTED_STARTS = [0.0, 0.25, 0.75, 1.75, 3.75, 7.75]


class RefusesThenAnswers:
    """Refuses ``failures`` times with ConnectionError, then answers; notes when each attempt started."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.started_at: list[float] = []

    async def __call__(self) -> str:
        self.started_at.append(asyncio.get_running_loop().time())
        if len(self.started_at) <= self.failures:
            raise ConnectionError("refused")
        return "answer"


async def scenario(scale: float) -> list[float]:
    """Run the retry scenario once; return the attempts' start times relative to the first."""
    call = RefusesThenAnswers(FAILURES)
    answer = await retry(
        call, deadline=DEADLINE * scale, first_delay=FIRST_DELAY * scale, factor=FACTOR, cap=CAP * scale, jitter=0
    )
    assert answer == "answer"
    return [t - call.started_at[0] for t in call.started_at]


def run_real(scale: float) -> tuple[float, list[float]]:
    started = time.perf_counter()
    with asyncio.Runner() as runner:
        starts = runner.run(scenario(scale))
    return time.perf_counter() - started, starts


def run_virtual(repeats: int) -> float:
    """Seconds per scenario, averaged over ``repeats`` runs, each on a fresh virtual-time loop."""
    started = time.perf_counter()
    for _ in range(repeats):
        with asyncio.Runner(loop_factory=async_solipsism.EventLoop) as runner:
            starts = runner.run(scenario(1.0))
        if starts != EXPECTED_STARTS:
            raise AssertionError(f"virtual time ran a different schedule: {starts}")
    return (time.perf_counter() - started) / repeats


def compare(rounds: int, real_scale: float, virtual_repeats: int) -> Comparison:
    comparison = Comparison(
        key="1",
        slug="waiting",
        title="Waiting: retry with backoff and a deadline, real time vs virtual time (async-solipsism)",
        scenario=(
            f"recipes/fast_forward_time retry(): {FAILURES} refusals then an answer, backoff "
            f"{FIRST_DELAY} s doubling, {DEADLINE:g} s deadline; attempts at {EXPECTED_STARTS} s"
        ),
        reference="real time (asyncio loop)",
    )
    lateness: list[float] = []

    def real() -> float:
        seconds, starts = run_real(real_scale)
        expected = [t * real_scale for t in EXPECTED_STARTS]
        lateness.append(max(s - e for s, e in zip(starts, expected, strict=True)))
        return seconds / real_scale * 1000  # milliseconds for the full-size schedule

    def virtual() -> float:
        return run_virtual(virtual_repeats) * 1000

    samples = alternate(rounds, {"real": real, "virtual": virtual}, "waiting")
    real_row = Row("real time (asyncio loop)", "ms/scenario", samples["real"])
    virtual_row = Row("virtual time (async_solipsism.EventLoop)", "ms/scenario", samples["virtual"])
    comparison.rows = [real_row, virtual_row]
    speedup = virtual_row.speedup_over(real_row)
    comparison.targets.append(Target("virtual time >= 100x faster than real time", times(speedup), speedup >= 100))
    if real_scale != 1.0:
        comparison.notes.append(
            f"the real-time side ran the same schedule scaled by {real_scale:g} (same shape, every delay and the "
            f"deadline x{real_scale:g}) and its times are divided by {real_scale:g} to stand for the full schedule"
        )
    comparison.notes.append(
        f"virtual time: each sample is the mean of {virtual_repeats} runs, each on a fresh loop, every run checked "
        "to follow the exact schedule; real time: one run per sample, at most "
        f"{max(lateness) * 1000:.1f} ms late on any attempt"
    )
    comparison.details = {"real_scale": real_scale, "virtual_repeats": virtual_repeats, "real_lateness_s": lateness}
    return comparison
