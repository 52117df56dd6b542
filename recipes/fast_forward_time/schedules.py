"""Retry a flaky async call with exponential backoff, and run a job on a fixed period.

Both read time only through the event loop (``loop.time()``, ``asyncio.sleep``,
``asyncio.timeout_at``), never through the wall clock, so a test can run them on
a virtual-time loop and check their schedule exactly.
"""

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class GaveUp(Exception):
    """Every attempt failed until the deadline; the last failure is the ``__cause__``."""


async def retry(
    operation: Callable[[], Awaitable[T]],
    *,
    deadline: float,
    first_delay: float = 0.5,
    factor: float = 2.0,
    cap: float = 30.0,
    jitter: float = 0.1,
    retry_on: tuple[type[Exception], ...] = (ConnectionError, TimeoutError),
    rng: Callable[[], float] = random.random,
) -> T:
    """Await ``operation()`` until it succeeds, for at most ``deadline`` seconds.

    Errors in ``retry_on`` are retried after ``first_delay * factor**n`` s (at most ``cap``,
    less a random fraction up to ``jitter`` so clients do not retry in step); other errors
    propagate at once. At the deadline a running attempt or sleep is cancelled: ``GaveUp``.
    """
    loop = asyncio.get_running_loop()
    started, delay, attempts = loop.time(), first_delay, 0
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
                await asyncio.sleep(delay * (1 - jitter * rng()))
                delay = min(delay * factor, cap)
    except TimeoutError as exc:
        if not timeout.expired():
            raise  # the operation's own TimeoutError, not our deadline
        raise GaveUp(f"gave up after {attempts} attempt(s) in {loop.time() - started:.3f}s") from last_error or exc


async def run_every(interval: float, job: Callable[[], Awaitable[object]]) -> None:
    """Run ``job`` now and then every ``interval`` seconds, until cancelled.

    Ticks are anchored to the start, so a slow job does not make the schedule drift; ticks
    missed while a job overran are skipped, not run in a burst. A failing job is logged.
    """
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    while True:
        try:
            await job()
        except Exception:
            log.exception("periodic job failed; the schedule goes on")
        now = loop.time()
        next_tick += interval
        if next_tick < now:
            missed = math.ceil((now - next_tick) / interval)
            next_tick += missed * interval
            log.warning("periodic job overran its interval: skipped %d tick(s)", missed)
        await asyncio.sleep(next_tick - now)
