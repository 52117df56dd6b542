"""A feature-flag service that mirrors its flags from an upstream config service.

Everything with a lifetime is set up in ``app.cleanup_ctx``: async generators
that run in order at startup, up to their ``yield``, and resume in reverse order
at shutdown.

1. ``http_session`` opens the one ``ClientSession`` the app shares, and closes it last.
2. ``flag_poller`` loads the flags once (the app refuses to start without them),
   then starts a background task that polls the upstream every ``poll_interval``
   seconds. At shutdown the task is cancelled and awaited before the session
   it uses is closed.

Routes: ``GET /flags`` (every flag, and how polling is going) and ``GET /flags/{name}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL


class StartupError(RuntimeError):
    """The initial flags could not be loaded, so the app does not start."""


@dataclass(frozen=True)
class Settings:
    flags_url: str
    poll_interval: float = 30.0  # seconds between polls of the upstream
    request_timeout: float = 5.0  # seconds for one request to the upstream

    def __post_init__(self) -> None:
        url = URL(self.flags_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"flags_url must be an absolute http(s) URL, got {self.flags_url!r}")
        if self.poll_interval <= 0 or self.request_timeout <= 0:
            raise ValueError(
                "poll_interval and request_timeout must be positive,"
                f" got {self.poll_interval} and {self.request_timeout}"
            )


class FlagStore:
    """The current flags, and how polling has gone so far."""

    def __init__(self, flags: dict[str, bool]) -> None:
        self.flags = flags
        self.polls = 0
        self.failures = 0
        self.last_error: str | None = None
        self.polled = asyncio.Event()  # set after every poll, good or bad; clear it to wait for the next one


SETTINGS = web.AppKey("settings", Settings)
SESSION = web.AppKey("session", aiohttp.ClientSession)
FLAGS = web.AppKey("flags", FlagStore)
POLLER = web.AppKey[asyncio.Task[None]]("poller")


def parse_flags(data: Any) -> dict[str, bool]:
    """Check that the upstream sent a JSON object of ``name: true/false``."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object of flags, got {type(data).__name__}")
    for name, value in data.items():
        if not isinstance(value, bool):
            raise ValueError(f"flag {name!r} must be true or false, got {value!r}")
    return dict(data)


def describe(exc: BaseException) -> str:
    """``ValueError: bad flag``, or just ``TimeoutError`` for an error without a message."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def fetch_flags(session: aiohttp.ClientSession, url: str) -> dict[str, bool]:
    async with session.get(url) as response:
        response.raise_for_status()
        return parse_flags(await response.json())


async def poll_flags(app: web.Application) -> None:
    """Reload the flags until cancelled; a failed poll keeps the flags we have and is counted."""
    settings, store = app[SETTINGS], app[FLAGS]
    while True:
        await asyncio.sleep(settings.poll_interval)
        try:
            store.flags = await fetch_flags(app[SESSION], settings.flags_url)
            store.last_error = None
        except Exception as exc:  # whatever happens, the poller must keep polling
            store.failures += 1
            store.last_error = describe(exc)
        store.polls += 1
        store.polled.set()


async def http_session(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=app[SETTINGS].request_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app[SESSION] = session
        yield


async def flag_poller(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].flags_url
    try:
        flags = await fetch_flags(app[SESSION], url)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise StartupError(f"could not load the initial flags from {url}: {describe(exc)}") from exc
    app[FLAGS] = FlagStore(flags)
    app[POLLER] = task = asyncio.create_task(poll_flags(app), name="flag-poller")
    yield
    task.cancel()
    # `await task` would re-raise the poller's CancelledError, and suppressing that would
    # also swallow a cancellation of the shutdown itself; asyncio.wait does neither.
    await asyncio.wait([task])


async def list_flags(request: web.Request) -> web.Response:
    store = request.app[FLAGS]
    return web.json_response(
        {"flags": store.flags, "polls": store.polls, "failures": store.failures, "last_error": store.last_error}
    )


async def get_flag(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    flags = request.app[FLAGS].flags
    if name not in flags:
        return web.json_response({"error": f"unknown flag {name!r}"}, status=404)
    return web.json_response({"name": name, "enabled": flags[name]})


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([http_session, flag_poller])  # the order matters: the poller needs the session
    app.router.add_get("/flags", list_flags)
    app.router.add_get("/flags/{name}", get_flag)
    return app
