"""A price client that owns loop-bound objects: an aiohttp session, a Semaphore and Locks.

An aiohttp ``ClientSession`` belongs to the loop running when it is built, and since
Python 3.10 an asyncio Lock, Semaphore, Event or Queue binds to the loop on which it
first has to wait. So nothing here is built at import time: ``open_client`` builds the
session and the client on the running loop, and closes the session before that loop
ends. ``REQUEST_ID`` is a context variable, not a loop-bound object: it is safe at import
time, and each request sends the value of the task that made it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class QuoteClient:
    """Prices by symbol: at most ``max_in_flight`` requests at once, each symbol fetched once."""

    def __init__(self, session: aiohttp.ClientSession, max_in_flight: int) -> None:
        self._session = session
        self._slots = asyncio.Semaphore(max_in_flight)
        self._locks: dict[str, asyncio.Lock] = {}
        self._prices: dict[str, float] = {}

    async def price(self, symbol: str) -> float:
        """The symbol's price; callers asking for one symbol at once share one request.

        A failed request is not remembered: the next caller asks again.
        """
        async with self._locks.setdefault(symbol, asyncio.Lock()):
            if symbol not in self._prices:
                self._prices[symbol] = await self._fetch(symbol)
            return self._prices[symbol]

    async def _fetch(self, symbol: str) -> float:
        headers = {"X-Request-ID": REQUEST_ID.get()}
        async with self._slots, self._session.get(f"quotes/{symbol}", headers=headers) as response:
            response.raise_for_status()
            body = await response.json()
        return float(body["price"])


@asynccontextmanager
async def open_client(base_url: str, *, max_in_flight: int, request_timeout: float) -> AsyncIterator[QuoteClient]:
    """Build the session and the client on the running loop; close the session on exit.

    ``request_timeout`` bounds each request, in seconds; past it the caller gets ``TimeoutError``.
    """
    timeout = aiohttp.ClientTimeout(total=request_timeout)  # plain data: safe anywhere, even at import time
    async with aiohttp.ClientSession(base_url, timeout=timeout) as session:
        yield QuoteClient(session, max_in_flight)
