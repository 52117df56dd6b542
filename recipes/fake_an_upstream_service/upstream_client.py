"""A JSON client for an unreliable upstream: a deadline per attempt and a bounded number of retries.

Transient failures are retried after a pause: a 5xx or 429 status (waiting as long
as a numeric ``Retry-After`` asks, within a limit), an attempt that runs out of
time, a refused connection, and a connection that drops before the whole body
has arrived. Anything else fails at once. The caller gets the decoded JSON, or an
``UpstreamError`` saying what went wrong and after how many attempts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
Sleep = Callable[[float], Awaitable[None]]


class UpstreamError(Exception):
    """The upstream did not give us the document; ``attempts`` requests were made."""

    def __init__(self, message: str, *, attempts: int, status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status


class UpstreamUnavailable(UpstreamError):
    """Every attempt failed in a way that might have passed with time."""


class BadResponse(UpstreamError):
    """The upstream answered, but not with a document: a 4xx status or a body that is not JSON."""


class _Transient(Exception):
    def __init__(self, reason: str, status: int | None = None, wait: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.wait = wait


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # requests in total, the first one included
    timeout: float = 5.0  # seconds for each attempt, connecting and reading the body included
    backoff: float = 0.2  # the first pause in seconds; it doubles after each failed attempt
    max_wait: float = 30.0  # backoff stops growing here; a longer Retry-After gives up at once

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        if self.backoff < 0 or self.max_wait < 0:
            raise ValueError(f"backoff and max_wait cannot be negative, got {self.backoff} and {self.max_wait}")


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header in its delta-seconds form; ``None`` if absent or in another form."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    return float(text)


class UpstreamClient:
    """GETs JSON documents from one upstream over a caller-owned ``ClientSession``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        parsed = URL(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._policy = policy or RetryPolicy()
        self._sleep = sleep

    async def get_json(self, path: str) -> Any:
        """GET ``base_url + path`` and return its JSON body, retrying transient failures."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        url = self._base_url + path
        policy = self._policy
        attempt = 1
        while True:
            try:
                return await self._attempt(url, attempt)
            except _Transient as failure:
                if attempt == policy.attempts:
                    raise UpstreamUnavailable(
                        f"GET {url}: gave up after attempt {attempt} of {policy.attempts}: {failure}",
                        attempts=attempt,
                        status=failure.status,
                    ) from failure.__cause__
                if failure.wait is not None and failure.wait > policy.max_wait:
                    raise UpstreamUnavailable(
                        f"GET {url}: {failure} asks to retry after {failure.wait:g} s,"
                        f" longer than max_wait ({policy.max_wait:g} s)",
                        attempts=attempt,
                        status=failure.status,
                    ) from None
                backoff = min(policy.backoff * 2 ** (attempt - 1), policy.max_wait)
                await self._sleep(backoff if failure.wait is None else failure.wait)
            attempt += 1

    async def _attempt(self, url: str, attempt: int) -> Any:
        timeout = aiohttp.ClientTimeout(total=self._policy.timeout)
        try:
            async with self._session.get(url, timeout=timeout) as response:
                if response.status in RETRY_STATUSES:
                    wait = retry_after(response.headers.get("Retry-After"))
                    raise _Transient(f"HTTP {response.status} {response.reason}", response.status, wait)
                if not 200 <= response.status < 300:
                    raise BadResponse(
                        f"GET {url}: HTTP {response.status} {response.reason}", attempts=attempt, status=response.status
                    )
                body = await response.read()
        except TimeoutError as exc:
            raise _Transient(f"no complete response within {self._policy.timeout:g} s") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        try:
            return json.loads(body)
        except ValueError as exc:
            raise BadResponse(
                f"GET {url}: the body is not valid JSON ({exc})", attempts=attempt, status=response.status
            ) from exc
