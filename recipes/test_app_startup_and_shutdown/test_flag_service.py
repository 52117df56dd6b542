"""Startup, a background task and shutdown of an aiohttp app, each asserted without sleeping."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from .flag_service import FLAGS, POLLER, SESSION, FlagStore, StartupError, create_app

Client = TestClient[web.Request, web.Application]
INITIAL, CHANGED = {"dark_mode": False}, {"dark_mode": True}
QUIET, FAST = 60.0, 0.002  # poll intervals: none in a test's lifetime, or one poll after another
WAIT = 2.0  # seconds; only reached when something is broken


@dataclass
class ConfigService:  # the upstream the app polls: a real server on loopback, its answer set by the test
    url: str = ""
    flags: dict[str, bool] = field(default_factory=lambda: dict(INITIAL))
    status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        return web.json_response(self.flags, status=self.status)


@pytest_asyncio.fixture
async def config_service(aiohttp_server: AiohttpServer) -> ConfigService:
    service, upstream = ConfigService(), web.Application()
    upstream.router.add_get("/flags", service.handle)
    service.url = str((await aiohttp_server(upstream)).make_url("/flags"))
    return service


@pytest_asyncio.fixture
async def client(aiohttp_client: AiohttpClient, config_service: ConfigService) -> Client:
    return await aiohttp_client(create_app(config_service.url, poll_interval=QUIET))  # runs the startup


@pytest.mark.asyncio
async def test_shutdown_cancels_the_poller_and_closes_the_session(client: Client) -> None:
    poller, session = client.app[POLLER], client.app[SESSION]
    assert (poller.done(), session.closed) == (False, False)  # the startup started both

    async with asyncio.timeout(WAIT):  # a shutdown that hangs fails here instead of hanging the run
        await client.close()  # runs the app's shutdown now; the fixture's own close later is a no-op

    assert poller.cancelled()
    assert session.closed


@pytest.mark.asyncio
async def test_startup_loaded_the_flags_before_the_first_request(client: Client, config_service: ConfigService) -> None:
    config_service.flags = CHANGED  # too late: the startup has loaded the flags already

    async with client.get("/flags") as response:
        assert await response.json() == {"flags": INITIAL, "last_error": None}
    assert client.app[POLLER].get_name() == "flag-poller"  # typed asyncio.Task[None] through web.AppKey


@pytest.mark.asyncio
async def test_a_startup_that_cannot_load_the_flags_fails_with_a_clear_error(config_service: ConfigService) -> None:
    config_service.status = 503
    app = create_app(config_service.url, poll_interval=QUIET)
    server = TestServer(app)  # not aiohttp_client: see the leak in test_pitfalls.py

    message = r"^could not load the flags from http://127\.0\.0\.1:\d+/flags: ClientResponseError: 503, message="
    with pytest.raises(StartupError, match=message):
        await server.start_server()

    # aiohttp does not unwind a half-done startup by itself: the session the first
    # cleanup_ctx step opened stays open until the server is closed.
    assert POLLER not in app
    assert not app[SESSION].closed
    await server.close()
    assert app[SESSION].closed


@pytest_asyncio.fixture
async def polling_client(aiohttp_client: AiohttpClient, config_service: ConfigService) -> Client:
    return await aiohttp_client(create_app(config_service.url, poll_interval=FAST))


async def until(store: FlagStore, condition: Callable[[], bool]) -> None:
    """Wait, poll by poll, until ``condition`` holds: the poller sets ``polled`` after each poll."""
    async with asyncio.timeout(WAIT):
        while not condition():
            store.polled.clear()
            await store.polled.wait()


@pytest.mark.asyncio
async def test_the_poller_picks_up_changed_flags(polling_client: Client, config_service: ConfigService) -> None:
    store = polling_client.app[FLAGS]
    config_service.flags = CHANGED

    await until(store, lambda: store.flags == CHANGED)

    async with polling_client.get("/flags") as response:
        assert await response.json() == {"flags": CHANGED, "last_error": None}


@pytest.mark.asyncio
async def test_a_failed_poll_keeps_the_old_flags_and_the_poller_alive(
    polling_client: Client, config_service: ConfigService
) -> None:
    store = polling_client.app[FLAGS]
    config_service.status, config_service.flags = 500, CHANGED

    await until(store, lambda: store.last_error is not None)

    assert store.flags == INITIAL
    assert str(store.last_error).startswith("ClientResponseError: 500, message=")
    assert not polling_client.app[POLLER].done()

    config_service.status = 200  # the upstream recovers, and so do the flags
    await until(store, lambda: store.flags == CHANGED)
    assert store.last_error is None


@pytest.mark.asyncio
async def test_the_poller_has_stopped_before_its_session_closes(polling_client: Client) -> None:
    store, poller, session = polling_client.app[FLAGS], polling_client.app[POLLER], polling_client.app[SESSION]
    await until(store, store.polled.is_set)  # the poller is past its first poll, in its loop
    session_closed_when_poller_stopped: list[bool] = []
    poller.add_done_callback(lambda _: session_closed_when_poller_stopped.append(session.closed))

    async with asyncio.timeout(WAIT):
        await polling_client.close()

    assert session_closed_when_poller_stopped == [False]
