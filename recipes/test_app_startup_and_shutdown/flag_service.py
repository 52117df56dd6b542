"""A feature-flag service that mirrors an upstream config service: startup, a background task, shutdown.

``app.cleanup_ctx`` opens the shared session, loads the flags (none, no startup) and starts a poller;
shutdown unwinds it in reverse, so the poller is cancelled before its session is closed.
"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web


class StartupError(RuntimeError):
    """The initial flags could not be loaded, so the app does not start."""


@dataclass
class FlagStore:
    """The flags and their source; ``polled`` is set after every poll, good or bad: clear it to await the next."""

    url: str
    poll_interval: float  # seconds between two polls
    flags: dict[str, bool] = field(default_factory=dict)
    last_error: str | None = None  # of the last poll
    polled: asyncio.Event = field(default_factory=asyncio.Event)


SESSION = web.AppKey("session", aiohttp.ClientSession)
FLAGS = web.AppKey("flags", FlagStore)
POLLER = web.AppKey[asyncio.Task[None]]("poller")


async def fetch_flags(session: aiohttp.ClientSession, url: str) -> dict[str, bool]:
    async with session.get(url) as response:
        response.raise_for_status()
        flags: dict[str, bool] = await response.json()
        return flags


async def poll_flags(app: web.Application) -> None:
    store = app[FLAGS]
    while True:
        await asyncio.sleep(store.poll_interval)
        try:
            store.flags, store.last_error = await fetch_flags(app[SESSION], store.url), None
        except Exception as exc:  # a failed poll keeps the flags we have, and the poller polls on
            store.last_error = f"{type(exc).__name__}: {exc}"
        store.polled.set()


async def http_session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[SESSION] = session
        yield


async def flag_poller(app: web.Application) -> AsyncIterator[None]:
    store = app[FLAGS]
    try:
        store.flags = await fetch_flags(app[SESSION], store.url)
    except aiohttp.ClientError as exc:
        raise StartupError(f"could not load the flags from {store.url}: {type(exc).__name__}: {exc}") from exc
    app[POLLER] = task = asyncio.create_task(poll_flags(app), name="flag-poller")
    yield
    task.cancel()
    await asyncio.wait([task])  # not `await task`: suppressing its CancelledError would hide one aimed at us


async def list_flags(request: web.Request) -> web.Response:
    return web.json_response({"flags": request.app[FLAGS].flags, "last_error": request.app[FLAGS].last_error})


def create_app(flags_url: str, *, poll_interval: float) -> web.Application:
    app = web.Application()
    app[FLAGS] = FlagStore(flags_url, poll_interval)
    app.cleanup_ctx.extend([http_session, flag_poller])  # in this order: the poller needs the session
    app.router.add_get("/flags", list_flags)
    return app
