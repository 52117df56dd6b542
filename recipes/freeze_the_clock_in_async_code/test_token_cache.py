"""Freeze the wall clock, keep the loop's clock: token expiry under time-machine, freezegun and virtual time."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import async_solipsism  # type: ignore[import-untyped]  # the package ships no type hints
import pytest
import time_machine
from freezegun import freeze_time

from .token_cache import RefreshTimedOut, Token, TokenCache

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
HOUR, MINUTE, SECOND = timedelta(hours=1), timedelta(minutes=1), timedelta(seconds=1)
TINY = 0.005  # the one real wait: a refresh deadline that must run out


class FakeAuthServer:
    """Issues tokens that live an hour from the wall clock's now; a stalled server never answers."""

    def __init__(self, *, stalled: bool = False) -> None:
        self.stalled, self.issued_at = stalled, list[datetime]()

    async def __call__(self) -> Token:
        if self.stalled:
            await asyncio.Event().wait()
        now = datetime.now(UTC)
        self.issued_at.append(now)
        return Token(f"token-{len(self.issued_at)}", expires_at=now + HOUR)


@pytest.mark.asyncio
async def test_a_stalled_refresh_still_times_out_while_the_wall_clock_is_frozen() -> None:
    cache = TokenCache(FakeAuthServer(stalled=True), deadline=TINY)
    loop = asyncio.get_running_loop()

    with time_machine.travel(T0, tick=False):  # time-machine 3 leaves time.monotonic() alone
        started = loop.time()
        with pytest.raises(RefreshTimedOut, match=r"^the auth server did not answer within 0\.005 s$"):
            await cache.get()

        assert datetime.now(UTC) == T0  # the wall clock did not move,
        assert loop.time() > started  # the loop's clock did: the deadline ran out on it


@pytest.mark.asyncio
async def test_the_token_is_refreshed_once_a_minute_or_less_is_left() -> None:
    auth = FakeAuthServer()
    cache = TokenCache(auth, margin=MINUTE)

    with time_machine.travel(T0, tick=False) as traveller:  # the wall clock stands still until shifted
        assert await cache.get() == "token-1"
        traveller.shift(HOUR - MINUTE - SECOND)
        assert await cache.get() == "token-1"  # 61 s left
        traveller.shift(SECOND)
        assert await cache.get() == "token-2"  # 60 s left: refreshed

    assert auth.issued_at == [T0, T0 + HOUR - MINUTE]


@pytest.mark.asyncio
async def test_freezegun_leaves_the_loop_clock_running_only_with_real_asyncio() -> None:
    auth = FakeAuthServer()
    cache = TokenCache(auth, deadline=TINY)  # the default margin: a minute

    with freeze_time(T0, real_asyncio=True) as frozen:  # without real_asyncio: test_pitfalls.py
        first, second = await asyncio.gather(cache.get(), cache.get())
        assert first == second == "token-1"  # two callers, one refresh
        auth.stalled = True
        frozen.tick(HOUR - MINUTE - SECOND)
        assert await cache.get() == "token-1"  # 61 s left: no refresh
        frozen.tick(SECOND)
        with pytest.raises(RefreshTimedOut):  # the deadline fires: the loop reads the real monotonic clock
            await cache.get()

        assert time.monotonic() == T0.timestamp() + 3540  # code that reads it itself still sees frozen time

    assert auth.issued_at == [T0]


def test_the_refresher_sleeps_until_a_minute_before_each_expiry_in_virtual_time() -> None:
    # The refresher sleeps 59 minutes at a time: a virtual-time loop skips the waits, and the
    # frozen wall clock is moved to match the loop's clock before each refresh.
    auth = FakeAuthServer()

    async def fetch() -> Token:
        traveller.move_to(T0 + timedelta(seconds=asyncio.get_running_loop().time()))
        return await auth()

    async def until_the_server_stalls() -> float:
        refresher = asyncio.create_task(TokenCache(fetch, margin=MINUTE).keep_fresh())
        await asyncio.sleep(5 * 3600)
        auth.stalled = True
        with pytest.raises(RefreshTimedOut, match=r"^the auth server did not answer within 5\.0 s$"):
            await refresher  # the default deadline ends the next refresh, and the refresher with it
        return asyncio.get_running_loop().time()

    with (
        time_machine.travel(T0, tick=False) as traveller,
        asyncio.Runner(loop_factory=async_solipsism.EventLoop) as runner,
    ):
        failed_at = runner.run(until_the_server_stalls())

    assert auth.issued_at == [T0 + n * (HOUR - MINUTE) for n in range(6)]  # 0:00, 0:59, 1:58, ... 4:55
    assert failed_at == 6 * 3540 + 5  # the seventh refresh starts at 5:54; its deadline is 5 s
