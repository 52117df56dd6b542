"""Read newline-delimited JSON (NDJSON) records from a stream of byte chunks, one record at a time.

Chunks may split a line, or a multi-byte character, anywhere: a record is parsed
once its whole line has arrived. The reader owns its source: however it stops
(the stream ends, a record is bad, or the consumer closes it early), its
``finally`` block closes the source, if the source can be closed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import Any

import aiohttp

Record = dict[str, Any]
MAX_LINE_BYTES = 1024 * 1024


class RecordError(ValueError):
    """A line of the stream is not a JSON object; ``line`` is its 1-based number."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


class StreamError(Exception):
    """The stream could not be opened."""


def read_records(chunks: AsyncIterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES) -> AsyncGenerator[Record, None]:
    """Yield each non-blank line of ``chunks`` as a dict.

    A plain function, so a bad argument fails here, at the call; the body of an
    async generator would only run, and raise, at the first ``anext``.
    """
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
    return _records(aiter(chunks), max_line_bytes)


def _parse(line: bytes, number: int, max_line_bytes: int) -> Record | None:
    if len(line) > max_line_bytes:
        raise RecordError(number, f"longer than {max_line_bytes} bytes")
    if not line.strip():
        return None
    try:
        value = json.loads(line)  # decodes UTF-8 itself; bad bytes are a ValueError too
    except ValueError as exc:
        raise RecordError(number, f"not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise RecordError(number, f"expected a JSON object, got {type(value).__name__}")
    return value


async def _records(source: AsyncIterator[bytes], max_line_bytes: int) -> AsyncGenerator[Record, None]:
    pending = b""  # the start of a line whose end has not arrived yet
    number = 0
    try:
        async for chunk in source:
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                number += 1
                if (record := _parse(line, number, max_line_bytes)) is not None:
                    yield record
            if len(pending) > max_line_bytes:  # do not buffer without limit while waiting for a newline
                raise RecordError(number + 1, f"longer than {max_line_bytes} bytes")
        if (record := _parse(pending, number + 1, max_line_bytes)) is not None:
            yield record  # the last line needs no newline
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def fetch_records(
    session: aiohttp.ClientSession, url: str, *, max_line_bytes: int = MAX_LINE_BYTES
) -> AsyncGenerator[Record, None]:
    """Stream the records served as NDJSON at ``url``, as their chunks arrive.

    Stopping early? Close this generator (``contextlib.aclosing``): that closes
    the response, and with it the connection, at once.
    """
    async with session.get(url) as response:
        if response.status != 200:
            raise StreamError(f"GET {url}: HTTP {response.status} {response.reason}")
        records = read_records(response.content.iter_any(), max_line_bytes=max_line_bytes)
        async with contextlib.aclosing(records):
            async for record in records:
                yield record
