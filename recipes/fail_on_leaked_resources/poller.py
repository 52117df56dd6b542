"""Poll a JSON status endpoint in the background.

A ``StatusPoller`` owns two resources: an aiohttp ``ClientSession`` and the task
that polls. Both exist only between ``start()`` and ``close()``; ``async with
StatusPoller(url) as poller:`` pairs the two calls so neither can leak.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self

import aiohttp
from yarl import URL


class StatusPoller:
    """Keeps ``latest`` up to date by fetching ``url`` every ``interval`` seconds."""

    def __init__(self, url: str, *, interval: float = 5.0, request_timeout: float = 10.0) -> None:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"expected an absolute http(s) URL, got {url!r}")
        if interval <= 0 or request_timeout <= 0:
            raise ValueError("interval and request_timeout must be positive numbers of seconds")
        self.url = url
        self.interval = interval
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.latest: Any = None
        self.last_error: Exception | None = None
        self.polls = 0
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._polled = asyncio.Event()

    @property
    def session(self) -> aiohttp.ClientSession | None:
        return self._session

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def start(self) -> None:
        if self._session is not None:
            raise RuntimeError("the poller is already running")
        self._session = aiohttp.ClientSession(timeout=self._timeout, raise_for_status=True)
        self._task = asyncio.create_task(self._poll_forever(self._session), name=f"StatusPoller({self.url})")

    async def close(self) -> None:
        """Stop polling and close the session. Safe to call twice, or before ``start()``."""
        task, self._task = self._task, None
        session, self._session = self._session, None
        try:
            if task is not None:
                task.cancel()
                await asyncio.wait([task])  # unlike `await task`, this never swallows our own cancellation
        finally:
            if session is not None:
                await session.close()

    async def wait_for_poll(self) -> None:
        """Wait until the poll in progress, or else the next one, has finished."""
        if self._task is None:
            raise RuntimeError("the poller is not running: call start() or use `async with`")
        await self._polled.wait()

    async def _poll_forever(self, session: aiohttp.ClientSession) -> None:
        while True:
            try:
                async with session.get(self.url) as response:
                    self.latest = await response.json()
                self.last_error = None
            except Exception as exc:  # a background poller outlives bad replies; callers read last_error
                self.last_error = exc
            self.polls += 1
            finished, self._polled = self._polled, asyncio.Event()
            finished.set()
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
