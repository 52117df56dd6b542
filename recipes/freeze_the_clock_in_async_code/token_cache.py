"""An access token, cached until a minute before the expiry its auth server states, refreshed under a deadline.

Expiry is wall-clock time: the server says when the token dies (an aware UTC datetime), so the
cache compares that with ``datetime.now(UTC)``. Waiting is loop time: a refresh runs under
``asyncio.timeout`` and the background refresher sleeps with ``asyncio.sleep``. A test that
freezes the first clock must leave the second one running.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass
class Token:
    value: str
    expires_at: datetime  # aware, in UTC: when the auth server stops accepting the token


class RefreshTimedOut(TimeoutError):
    """The auth server did not answer within the refresh deadline."""


class TokenCache:
    """Hands out a token that is good for at least ``margin`` more; concurrent callers share one refresh."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Token]],
        *,
        margin: timedelta = timedelta(minutes=1),
        deadline: float = 5.0,
    ) -> None:
        self._fetch, self._margin, self._deadline = fetch, margin, deadline
        self._token: Token | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        """The cached token's value, refreshed first if there is none yet or it expires within ``margin``."""
        async with self._lock:
            token = self._token
            if token is None or datetime.now(UTC) >= token.expires_at - self._margin:
                token = await self._refresh()
            return token.value

    async def keep_fresh(self) -> None:
        """Refresh now, then ``margin`` before each expiry, until cancelled (a failed refresh ends it)."""
        while True:
            async with self._lock:
                token = await self._refresh()
            await asyncio.sleep((token.expires_at - self._margin - datetime.now(UTC)).total_seconds())

    async def _refresh(self) -> Token:
        try:
            async with asyncio.timeout(self._deadline):
                token = await self._fetch()
        except TimeoutError as exc:
            raise RefreshTimedOut(f"the auth server did not answer within {self._deadline} s") from exc
        self._token = token
        return token
