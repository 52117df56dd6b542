"""Fetch one JSON document over a caller-owned aiohttp ``ClientSession``.

Whatever goes wrong on the way (an error status, a body that is not JSON, a refused
connection, no answer within the session's timeout) reaches the caller as one ``FetchError``.
"""

from __future__ import annotations

from typing import Any

import aiohttp


class FetchError(Exception):
    """GET ``url`` failed; ``status`` is the HTTP error status, or None when there was none."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"GET {url} failed: {reason}")
        self.url = url
        self.status = status


async def fetch_json(session: aiohttp.ClientSession, url: str) -> Any:
    """GET ``url`` and return its decoded JSON body.

    The session is borrowed, never closed here: whoever created it closes it. Its
    ``ClientTimeout`` bounds the request; for a tighter deadline on one call, wrap
    the call in ``asyncio.timeout``.
    """
    try:
        async with session.get(url) as response:
            if not response.ok:
                raise FetchError(url, f"HTTP {response.status} {response.reason}", response.status)
            return await response.json()
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:  # no answer in time, refused, not JSON
        raise FetchError(url, f"{type(exc).__name__}: {exc}") from exc
