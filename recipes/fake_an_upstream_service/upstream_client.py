"""A JSON client for an unreliable upstream: a deadline per attempt and a bounded number of retries.

A 5xx or 429 (after a numeric ``Retry-After``, up to ``max_wait``), an attempt past its deadline and
a connection cut before the whole body arrived are retried after a doubling pause; running out of
attempts is ``UpstreamUnavailable``. A 4xx, broken HTTP, a redirect loop, a body over ``max_body``
or one that is not plain JSON is a ``BadResponse`` at once: never a raw aiohttp or json error.
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
    """The upstream answered, but not with a document it could use; retrying would not help."""


class _Transient(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait  # seconds the upstream asked us to wait, if it did


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # requests in total, the first one included
    timeout: float = 5.0  # seconds for each attempt, reading the body included
    backoff: float = 0.2  # the first pause in seconds; it doubles after each failed attempt
    max_wait: float = 30.0  # the longest pause, whatever Retry-After asks: 999999999 would be 31 years


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
    max_body: int = 1024 * 1024  # bytes read at most: a 100 MiB answer is refused, not buffered

    async def get_json(self, path: str) -> Any:
        """GET ``base_url + path`` and return its JSON body, retrying transient failures."""
        url, attempt = self.base_url + path, 1
        while True:
            try:
                return await self._attempt(url)
            except _Transient as error:
                if attempt == self.policy.attempts:
                    raise UpstreamUnavailable(f"GET {url}: gave up after {attempt} tries: {error}") from error.__cause__
                pause = self.policy.backoff * 2 ** (attempt - 1) if error.wait is None else error.wait
                await self.sleep(min(pause, self.policy.max_wait))
            attempt += 1

    async def _attempt(self, url: str) -> Any:
        try:
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=self.policy.timeout)) as response:
                if response.status == 429 or response.status >= 500:
                    wait = retry_after(response.headers.get("Retry-After"))
                    raise _Transient(f"HTTP {response.status} {response.reason}", wait)
                if not response.ok:
                    raise BadResponse(f"GET {url}: HTTP {response.status} {response.reason}")
                body = bytearray()
                async for chunk in response.content.iter_any():  # inside the try: a cut mid-body raises here
                    body += chunk  # in place: a server sending one byte at a time costs no more
                    if len(body) > self.max_body:
                        raise BadResponse(f"GET {url}: the body is over {self.max_body} bytes")
        except TimeoutError as exc:  # aiohttp's timeout is the built-in TimeoutError, not a ClientError
            raise _Transient(f"no complete response within {self.policy.timeout:g} s") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        except aiohttp.ClientResponseError as exc:  # a bad status line or chunk, huge headers, a redirect loop
            raise BadResponse(f"GET {url}: unusable HTTP ({type(exc).__name__})") from exc
        try:
            document = json.loads(body)
            json.dumps(document, allow_nan=False, ensure_ascii=False).encode()  # NaN, Infinity, a lone "\ud800"
        except (ValueError, RecursionError) as exc:  # RecursionError: nesting such as [[[[... past the limit
            raise BadResponse(f"GET {url}: the body is not JSON ({exc})") from exc
        return document
