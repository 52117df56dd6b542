"""What freezing the clock does to asyncio; each hang is bounded by a real-time guard, so it shows up as a result."""

import asyncio
import time

import pytest
import time_machine
from freezegun import freeze_time

from .test_token_cache import T0, TINY, FakeAuthServer
from .token_cache import RefreshTimedOut, TokenCache

GUARD = 0.05  # real seconds a frozen loop gets before the test looks; a working TINY sleep ends long before


def on_uvloop() -> bool:
    return type(asyncio.get_running_loop()).__module__.startswith("uvloop")


@pytest.mark.asyncio
async def test_freezegun_stops_asyncios_loop_clock_so_sleeps_and_deadlines_never_end() -> None:
    loop = asyncio.get_running_loop()
    cache = TokenCache(FakeAuthServer(stalled=True), deadline=TINY)

    with freeze_time(T0):  # freezes time.monotonic() too, and asyncio's loops read their clock from it
        sleeper = asyncio.create_task(asyncio.sleep(TINY))
        refresh = asyncio.create_task(cache.get())  # asyncio.timeout(TINY) around a server that never answers
        await asyncio.to_thread(time.sleep, GUARD)  # a guard on a real clock: the loop's own timers are stuck
        finished = sleeper.done(), refresh.done()
        loop_clock = loop.time()
        sleeper.cancel()
        refresh.cancel()
        await asyncio.gather(sleeper, refresh, return_exceptions=True)

    if on_uvloop():  # uvloop reads libuv's clock, which freezegun cannot reach: no hang
        assert finished == (True, True)
        assert isinstance(refresh.exception(), RefreshTimedOut)
        assert loop_clock != T0.timestamp()
    else:
        assert finished == (False, False)  # would stay so forever; freezegun prints nothing
        assert loop_clock == T0.timestamp()  # the loop's clock reads the frozen date, in epoch seconds


@pytest.mark.asyncio
async def test_freezegun_tick_true_makes_the_loop_clock_jump_so_a_60_s_deadline_fires_at_once() -> None:
    # tick=True lets time.monotonic() run, but from the frozen date: asyncio's loop clock
    # jumps decades ahead, and every timer armed before the freeze is due at once.
    cache = TokenCache(FakeAuthServer(stalled=True), deadline=60)
    refresh = asyncio.create_task(cache.get())
    await asyncio.sleep(0)  # the refresh starts: its 60 s deadline is armed on the real clock

    with freeze_time(T0, tick=True):
        if on_uvloop():  # libuv's clock does not jump
            await asyncio.sleep(TINY)
            assert not refresh.done()
            refresh.cancel()
            await asyncio.gather(refresh, return_exceptions=True)
        else:
            with pytest.raises(RefreshTimedOut, match=r"^the auth server did not answer within 60 s$"):
                await asyncio.wait_for(refresh, timeout=1)  # at once; the 1 s bound only guards the test


def test_time_machine_refuses_to_start_while_freezegun_is_active() -> None:
    # Moving a suite from freezegun to time-machine one test at a time: a freezegun
    # decorator or fixture still active around the test.
    with (
        freeze_time(T0),
        pytest.raises(RuntimeError, match=r"^time-machine cannot start when freezegun is active\.$"),
        time_machine.travel(T0),
    ):
        pass  # not reached: travel() refuses to start
