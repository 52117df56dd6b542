"""A client for a line-based key/value server, used as an async context manager.

Protocol: the client sends ``GET <key>\\n``; the server answers ``OK <value>\\n``
or ``MISSING\\n``.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

MAX_KEY_LENGTH = 64


class ProtocolError(Exception):
    """The server sent a reply this client does not understand."""


def check_key(key: str) -> None:
    """Refuse keys the protocol cannot carry, before anything is sent."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or " " in key:
        raise ValueError(f"invalid key {key!r}: use 1-{MAX_KEY_LENGTH} printable characters without spaces")


class KeyValueClient:
    """One connection to the server, open inside ``async with`` and closed after it."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def closed(self) -> bool:
        return self._writer is None

    async def __aenter__(self) -> Self:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            # The peer may already have hung up; the socket is closed either way.
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def get(self, key: str) -> str:
        """Return the value stored under ``key``; ``KeyError`` if there is none."""
        check_key(key)
        if self._reader is None or self._writer is None:
            raise RuntimeError("client is not connected: use `async with KeyValueClient(host, port) as client`")
        self._writer.write(f"GET {key}\n".encode())
        await self._writer.drain()
        line = await self._reader.readline()
        if not line.endswith(b"\n"):
            raise ConnectionError(f"server closed the connection while we waited for {key!r}")
        status, _, value = line.decode().removesuffix("\n").partition(" ")
        if status == "OK":
            return value
        if status == "MISSING" and not value:
            raise KeyError(key)
        raise ProtocolError(f"unexpected reply to GET {key}: {line!r}")


async def fetch_value(host: str, port: int, key: str) -> str:
    """Connect, read one key, and close the connection."""
    async with KeyValueClient(host, port) as client:
        return await client.get(key)
