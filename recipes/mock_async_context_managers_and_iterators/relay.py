"""Relay a download to a client connection, chunk by chunk, as it arrives.

``relay(session, url, writer, max_bytes=...)`` sends ``GET url`` on an aiohttp
``ClientSession``, raises ``aiohttp.ClientResponseError`` on an error status, and
writes each chunk of the body to an ``asyncio.StreamWriter``, awaiting
``drain()`` after each one so that a slow client slows the download instead of
filling memory. It returns the size and SHA-256 of what it relayed; a body over
``max_bytes`` stops it with ``TooLarge``. However it ends, leaving the
``async with`` hands the connection back to the session.

Which of these calls are awaited is what a test's mocks must copy:

    session.get(url)                  sync: returns an async context manager
    async with ... as response        awaits __aenter__, later __aexit__
    response.raise_for_status()       sync
    response.content.iter_chunked(n)  sync: returns an async iterator
    async for chunk in ...            awaits __anext__ until StopAsyncIteration
    writer.write(chunk)               sync
    await writer.drain()              async
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

import aiohttp

CHUNK_SIZE = 64 * 1024


class TooLarge(Exception):
    """The body was longer than the relay allows."""


@dataclass(frozen=True)
class Relayed:
    size: int
    sha256: str


async def relay(session: aiohttp.ClientSession, url: str, writer: asyncio.StreamWriter, *, max_bytes: int) -> Relayed:
    """Copy the body of ``GET url`` to ``writer``; return its size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    async with session.get(url) as response:
        response.raise_for_status()
        async for chunk in response.content.iter_chunked(CHUNK_SIZE):
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"{url}: the body is longer than {max_bytes} bytes")
            digest.update(chunk)
            writer.write(chunk)
            await writer.drain()
    return Relayed(size, digest.hexdigest())
