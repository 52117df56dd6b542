"""Read newline-delimited JSON (NDJSON) records from a stream of byte chunks, one record at a time.

Chunks may split a line, or a multi-byte character, anywhere: a record is parsed
once its whole line has arrived. The reader owns its source: however it stops
(the stream ends, a record is bad, or the consumer closes it early), its
``finally`` block closes the source, if the source can be closed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any

import aiohttp

Record = dict[str, Any]


class RecordError(ValueError):
    """A line of the stream is not a JSON object; ``line`` is its 1-based number."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


def _parse(line: bytes, number: int) -> Record | None:
    if not line.strip():
        return None
    try:
        value = json.loads(line)  # decodes UTF-8 itself; bad bytes are a ValueError too
    except ValueError as exc:
        raise RecordError(number, f"not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise RecordError(number, f"expected a JSON object, got {type(value).__name__}")
    return value


async def read_records(chunks: AsyncIterable[bytes]) -> AsyncGenerator[Record, None]:
    """Yield each non-blank line of ``chunks`` as a dict, as soon as the line is complete."""
    pending = b""  # the start of a line whose end has not arrived yet
    number = 0
    try:
        async for chunk in chunks:
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                number += 1
                if (record := _parse(line, number)) is not None:
                    yield record
        if (record := _parse(pending, number + 1)) is not None:
            yield record  # the last line needs no newline
    finally:
        aclose = getattr(chunks, "aclose", None)  # aiohttp's iter_any() has none
        if aclose is not None:
            await aclose()


async def fetch_records(session: aiohttp.ClientSession, url: str) -> AsyncGenerator[Record, None]:
    """Stream the records served as NDJSON at ``url``, as their chunks arrive.

    Stopping early? Close this generator (``contextlib.aclosing``): that closes
    the response, and with it the connection, at once.
    """
    async with (
        session.get(url, raise_for_status=True) as response,
        contextlib.aclosing(read_records(response.content.iter_any())) as records,
    ):
        async for record in records:
            yield record
