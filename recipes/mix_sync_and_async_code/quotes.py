"""A price-quote client: an async core, and a sync facade over it for code without an event loop.

``QuoteClient.fetch`` does the work over one TCP connection: it sends ``QUOTE <symbol>``
and reads back ``OK <price>`` or ``ERR <reason>``. ``QuoteClient.fetch_sync`` serves sync
callers (a script, a CLI, a WSGI view): it runs ``fetch`` on a fresh event loop with
``asyncio.run``, which also closes that loop. It refuses to run where a loop is already
running: there it could only block that loop, so async callers ``await fetch()``, or hand
``fetch_sync`` to a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal


class QuoteError(Exception):
    """The service had no price for the symbol, or hung up without one."""


class QuoteClient:
    """Quotes from one service; each call opens its own connection, so no object outlives its loop."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)

    async def fetch(self, symbol: str) -> Decimal:
        """The async core: the price of ``symbol``, for callers inside an event loop."""
        reader, writer = await asyncio.open_connection(*self.address)
        try:
            writer.write(f"QUOTE {symbol}\n".encode())
            await writer.drain()
            reply = (await reader.readline()).decode()
        finally:
            writer.close()
            await writer.wait_closed()
        status, _, detail = reply.removesuffix("\n").partition(" ")
        if status != "OK":
            raise QuoteError(f"no price for {symbol}: {detail or 'the service hung up'}")
        return Decimal(detail)

    def fetch_sync(self, symbol: str) -> Decimal:
        """The sync facade: ``fetch`` on a new event loop, for callers that have none running."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop runs in this thread: the only place a facade may run one
            return asyncio.run(self.fetch(symbol))
        raise RuntimeError(
            "fetch_sync() would block the running event loop: await fetch() there, or use asyncio.to_thread"
        )
