"""Poll a JSON status endpoint in the background.

A ``StatusPoller`` owns two resources, an aiohttp ``ClientSession`` and the task
that polls; both exist only between ``start()`` and ``close()``. ``async with
StatusPoller(...) as poller:`` pairs the two calls, so neither can leak.
"""

import asyncio
from types import TracebackType
from typing import Any, Self

import aiohttp


class StatusPoller:
    """Keeps ``latest`` up to date by fetching ``url`` every ``interval`` seconds."""

    def __init__(self, url: str, *, interval: float, request_timeout: float) -> None:
        self.url = url
        self.interval = interval
        self.request_timeout = request_timeout
        self.latest: Any = None
        self.last_error: Exception | None = None  # a background poller outlives bad replies
        self.session: aiohttp.ClientSession | None = None
        self.task: asyncio.Task[None] | None = None
        self._polled = asyncio.Event()

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        self.session = aiohttp.ClientSession(timeout=timeout, raise_for_status=True)
        # A named task: a leak report then says whose task was left running.
        self.task = asyncio.create_task(self._poll_forever(self.session), name=f"StatusPoller({self.url})")

    async def close(self) -> None:
        """Stop polling, then close the session. Safe to call twice, or before ``start()``."""
        task, self.task = self.task, None
        session, self.session = self.session, None
        try:
            if task is not None:
                task.cancel()
                await asyncio.wait([task])  # unlike `await task`, never swallows a cancellation of close()
        finally:
            if session is not None:
                await session.close()

    async def wait_for_poll(self) -> None:
        """Wait until the poll in progress, or else the next one, has finished."""
        await self._polled.wait()

    async def _poll_forever(self, session: aiohttp.ClientSession) -> None:
        while True:
            try:
                async with session.get(self.url) as response:
                    self.latest = await response.json()
                self.last_error = None
            except Exception as exc:
                self.last_error = exc
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
