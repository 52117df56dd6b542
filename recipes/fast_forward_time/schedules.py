"""Retry a flaky async call with exponential backoff, and run a job on a fixed period.

Both functions read time only through the event loop (``loop.time()``,
``asyncio.sleep``, ``asyncio.timeout_at``), never through the wall clock, so
a test can run them on a virtual-time loop and check their schedule exactly.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class GaveUp(Exception):
    """Every attempt failed and the deadline left no room for another one."""

    def __init__(self, attempts: int, elapsed: float) -> None:
        super().__init__(f"gave up after {attempts} attempt(s) in {elapsed:.3f}s")
        self.attempts = attempts
        self.elapsed = elapsed


@dataclass(frozen=True)
class Backoff:
    """Wait ``first * factor**n`` seconds before retry n+1, at most ``cap``.

    ``jitter`` (0 to 1) shaves a random fraction of up to that much off each
    delay, so clients that failed together do not all retry in the same instant.
    """

    first: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap:
            raise ValueError(f"need 0 < first <= cap, got first={self.first} cap={self.cap}")
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1, got {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def delays(self, rng: random.Random) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay * (1 - self.jitter * rng.random())
            delay = min(delay * self.factor, self.cap)


DEFAULT_BACKOFF = Backoff()


async def retry(
    operation: Callable[[], Awaitable[T]],
    *,
    deadline: float,
    backoff: Backoff = DEFAULT_BACKOFF,
    retry_on: tuple[type[Exception], ...] = (ConnectionError, TimeoutError),
    rng: random.Random | None = None,
) -> T:
    """Await ``operation()`` until it succeeds, for at most ``deadline`` seconds.

    Errors in ``retry_on`` are retried after a backoff delay; any other error
    propagates at once. An attempt still running at the deadline is cancelled.
    When time runs out, ``GaveUp`` is raised, chained to the last error.
    """
    if deadline <= 0:
        raise ValueError(f"deadline must be positive, got {deadline}")
    loop = asyncio.get_running_loop()
    started = loop.time()
    delays = backoff.delays(rng or random.Random())
    attempts = 0
    last_error: BaseException | None = None
    timeout = asyncio.timeout_at(started + deadline)
    try:
        async with timeout:
            while True:
                attempts += 1
                try:
                    return await operation()
                except retry_on as exc:
                    last_error = exc
                delay = next(delays)
                if loop.time() + delay >= started + deadline:
                    break  # no point sleeping if the next attempt would start too late
                await asyncio.sleep(delay)
    except TimeoutError as exc:
        if not timeout.expired():
            raise  # the operation's own TimeoutError, not one of ours
        raise GaveUp(attempts, loop.time() - started) from last_error or exc
    raise GaveUp(attempts, loop.time() - started) from last_error


async def run_every(interval: float, job: Callable[[], Awaitable[object]]) -> None:
    """Run ``job`` now and then every ``interval`` seconds, until cancelled.

    Ticks are anchored to the start, so a slow job does not make the schedule
    drift. Ticks missed while a job overran are skipped, not run in a burst.
    A job that raises is logged and the schedule goes on.
    """
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    while True:
        try:
            await job()
        except Exception:
            log.exception("periodic job failed; it runs again at the next tick")
        now = loop.time()
        next_tick += interval
        if next_tick < now:
            missed = math.ceil((now - next_tick) / interval)
            next_tick += missed * interval
            log.warning("periodic job overran its interval: skipped %d tick(s)", missed)
        await asyncio.sleep(next_tick - now)
