"""Fetch one JSON document over a caller-owned aiohttp ``ClientSession``.

Whatever goes wrong on the way (an error status, a body that is not JSON, a
refused or dropped connection, no answer in time) reaches the caller as a single
``FetchError`` that names the URL and, when there was a response, its status.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from yarl import URL


class FetchError(Exception):
    """The document at ``url`` could not be fetched as JSON."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"GET {url} failed: {reason}")
        self.url = url
        self.status = status


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


async def fetch_json(session: aiohttp.ClientSession, url: str) -> Any:
    """GET ``url`` and return its decoded JSON body.

    The session is borrowed, never closed here: whoever created it closes it.
    Its ``ClientTimeout`` bounds the request; callers wanting a tighter deadline
    for one call wrap it in ``asyncio.timeout``.
    """
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"expected an absolute http(s) URL, got {url!r}")
    try:
        async with session.get(parsed) as response:
            if not 200 <= response.status < 300:
                raise FetchError(url, f"HTTP {response.status} {response.reason}", response.status)
            if not _is_json(response.content_type):
                raise FetchError(url, f"expected JSON, got content type {response.content_type!r}", response.status)
            body = await response.read()
            status = response.status
    except TimeoutError as exc:
        raise FetchError(url, f"no complete response within the session timeout ({session.timeout.total} s)") from exc
    except aiohttp.ClientError as exc:
        raise FetchError(url, f"{type(exc).__name__}: {exc}") from exc
    try:
        return json.loads(body)
    except ValueError as exc:  # covers JSONDecodeError and undecodable bytes
        raise FetchError(url, f"body is not valid JSON ({exc})", status) from exc
