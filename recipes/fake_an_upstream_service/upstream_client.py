"""A JSON client for an unreliable upstream: a deadline per attempt and a bounded number of retries.

A 5xx or 429 (after a numeric ``Retry-After`` if there is one), an attempt past its deadline and
a connection cut before the whole body arrived are retried after a doubling pause; running out of
attempts is ``UpstreamUnavailable``. A 4xx or a body that is not JSON is a ``BadResponse`` at once.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp


class UpstreamUnavailable(Exception):
    """Every attempt failed in a way that might have passed with time."""


class BadResponse(Exception):
    """The upstream answered, but not with a document: a 4xx status or a body that is not JSON."""


class _Transient(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait  # seconds the upstream asked us to wait, if it did


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # requests in total, the first one included
    timeout: float = 5.0  # seconds for each attempt, reading the body included
    backoff: float = 0.2  # the first pause in seconds; it doubles after each failed attempt


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` in its delta-seconds form; ``None`` when absent or a date."""
    return float(value) if value and value.strip().isdecimal() else None


@dataclass(frozen=True)
class UpstreamClient:
    """GETs JSON documents from one upstream over a caller-owned ``ClientSession``."""

    session: aiohttp.ClientSession
    base_url: str
    policy: RetryPolicy = RetryPolicy()
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # a test passes one that never waits

    async def get_json(self, path: str) -> Any:
        """GET ``base_url + path`` and return its JSON body, retrying transient failures."""
        url, attempt = self.base_url + path, 1
        while True:
            try:
                return await self._attempt(url)
            except _Transient as error:
                if attempt == self.policy.attempts:
                    raise UpstreamUnavailable(f"GET {url}: gave up after {attempt} tries: {error}") from error.__cause__
                await self.sleep(self.policy.backoff * 2 ** (attempt - 1) if error.wait is None else error.wait)
            attempt += 1

    async def _attempt(self, url: str) -> Any:
        try:
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=self.policy.timeout)) as response:
                if response.status == 429 or response.status >= 500:
                    wait = retry_after(response.headers.get("Retry-After"))
                    raise _Transient(f"HTTP {response.status} {response.reason}", wait)
                if not response.ok:
                    raise BadResponse(f"GET {url}: HTTP {response.status} {response.reason}")
                body = await response.read()  # inside the try: a connection cut mid-body raises here
        except TimeoutError as exc:  # aiohttp's timeout is the built-in TimeoutError, not a ClientError
            raise _Transient(f"no complete response within {self.policy.timeout:g} s") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        try:
            return json.loads(body)
        except ValueError as exc:
            raise BadResponse(f"GET {url}: the body is not JSON ({exc})") from exc
