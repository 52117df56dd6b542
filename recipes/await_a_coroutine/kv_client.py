"""A client for a line-based key/value server, used as an async context manager.

Protocol: the client sends ``GET <key>\\n``; the server answers ``OK <value>\\n`` or ``MISSING\\n``.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self


class ProtocolError(Exception):
    """The server sent a reply this client does not understand."""


class KeyValueClient:
    """One connection to the server: opened by ``async with``, closed on every way out of the block."""

    _reader: asyncio.StreamReader
    _writer: asyncio.StreamWriter

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port

    async def __aenter__(self) -> Self:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._writer.close()
        # The peer may have hung up already: the socket is closed either way, and the body's own error stands.
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    async def get(self, key: str) -> str:
        """Return the value stored under ``key``; ``KeyError`` if there is none."""
        self._writer.write(f"GET {key}\n".encode())
        await self._writer.drain()
        line = await self._reader.readline()
        if not line.endswith(b"\n"):
            raise ConnectionError(f"server closed the connection while we waited for {key!r}")
        status, _, value = line.decode().removesuffix("\n").partition(" ")
        if status == "OK":
            return value
        if status == "MISSING":
            raise KeyError(key)
        raise ProtocolError(f"unexpected reply to GET {key}: {line!r}")


async def fetch_value(host: str, port: int, key: str) -> str:
    """Connect, read one key, and close the connection."""
    async with KeyValueClient(host, port) as client:
        return await client.get(key)
