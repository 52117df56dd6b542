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
        # Opened and closed together: both streams, or None while not connected.
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    @property
    def closed(self) -> bool:
        return self._streams is None

    async def __aenter__(self) -> Self:
        self._streams = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        streams, self._streams = self._streams, None
        if streams is not None:
            _, writer = streams
            writer.close()
            # The peer may already have hung up; the socket is closed either way.
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def get(self, key: str) -> str:
        """Return the value stored under ``key``; ``KeyError`` if there is none."""
        check_key(key)
        if self._streams is None:
            raise RuntimeError("client is not connected: use `async with KeyValueClient(host, port) as client`")
        reader, writer = self._streams
        writer.write(f"GET {key}\n".encode())
        await writer.drain()
        line = await reader.readline()
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
