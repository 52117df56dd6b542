"""Startup, a background task, and shutdown of an aiohttp app, each asserted without sleeping."""

import asyncio
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from .flag_service import FLAGS, POLLER, SESSION, FlagStore, Settings, StartupError, create_app, parse_flags

Client = TestClient[web.Request, web.Application]
INITIAL = {"dark_mode": False, "new_checkout": True}
CHANGED = {"dark_mode": True, "new_checkout": True}
QUIET = 60.0  # a poll interval no test outlives: no poll happens unless a test asks for it
FAST = 0.002  # a poll interval for tests that wait for polls; they wait on events, never on time
WAIT = 2.0  # seconds; only reached when something is broken


@dataclass
class ConfigService:
    """The upstream the app polls: a real server whose answer the test changes at will."""

    url: str = ""
    flags: Any = field(default_factory=lambda: dict(INITIAL))
    status: int = 200
    stall: bool = False  # never answer: only the app's request timeout ends the request
    answers: asyncio.Queue[int] | None = None  # when set, each request waits for the status to answer with
    requests: int = 0


@pytest_asyncio.fixture
async def config_service(aiohttp_server: AiohttpServer) -> ConfigService:
    service = ConfigService()

    async def flags(request: web.Request) -> web.Response:
        service.requests += 1
        if service.stall:
            await asyncio.Event().wait()
        status = service.status if service.answers is None else await service.answers.get()
        if status != 200:
            return web.json_response({"error": "injected"}, status=status)
        return web.json_response(service.flags)

    upstream = web.Application()
    upstream.router.add_get("/flags", flags)
    server = await aiohttp_server(upstream)
    service.url = str(server.make_url("/flags"))
    return service


@pytest_asyncio.fixture
async def client(aiohttp_client: AiohttpClient, config_service: ConfigService) -> Client:
    """The app, started: ``aiohttp_client`` runs its startup now and its shutdown after the test."""
    return await aiohttp_client(create_app(Settings(config_service.url, poll_interval=QUIET)))


@pytest_asyncio.fixture
async def polling_client(aiohttp_client: AiohttpClient, config_service: ConfigService) -> Client:
    return await aiohttp_client(create_app(Settings(config_service.url, poll_interval=FAST)))


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/flags"


async def until(store: FlagStore, condition: Callable[[], bool]) -> None:
    """Wait, poll by poll, until ``condition`` holds; the poller sets ``polled`` after each poll."""
    async with asyncio.timeout(WAIT):
        while not condition():
            store.polled.clear()
            await store.polled.wait()


async def get_json(client: Client, path: str) -> tuple[int, Any]:
    async with client.get(path) as response:
        return response.status, await response.json()


# --- Startup ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_startup_loaded_the_flags_before_the_first_request(client: Client, config_service: ConfigService) -> None:
    assert config_service.requests == 1  # the startup load, done before aiohttp_client returned

    status, body = await get_json(client, "/flags")

    assert status == 200
    assert body == {"flags": INITIAL, "polls": 0, "failures": 0, "last_error": None}
    assert config_service.requests == 1  # the request was served from the app's state


@pytest.mark.asyncio
async def test_one_flag_is_served_by_name(client: Client) -> None:
    assert await get_json(client, "/flags/new_checkout") == (200, {"name": "new_checkout", "enabled": True})
    assert await get_json(client, "/flags/dark_mode") == (200, {"name": "dark_mode", "enabled": False})


@pytest.mark.asyncio
async def test_an_unknown_flag_is_404(client: Client) -> None:
    assert await get_json(client, "/flags/teleport") == (404, {"error": "unknown flag 'teleport'"})


@pytest.mark.asyncio
async def test_the_state_is_on_the_app_under_typed_keys(client: Client) -> None:
    assert isinstance(client.app[SESSION], aiohttp.ClientSession)
    assert not client.app[SESSION].closed
    assert client.app[FLAGS].flags == INITIAL


# --- The background task ------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_poller_is_running_after_startup(client: Client) -> None:
    poller = client.app[POLLER]

    assert poller.get_name() == "flag-poller"
    assert not poller.done()


@pytest.mark.asyncio
async def test_the_poller_picks_up_changed_flags(polling_client: Client, config_service: ConfigService) -> None:
    store = polling_client.app[FLAGS]
    config_service.flags = dict(CHANGED)

    await until(store, lambda: store.flags == CHANGED)

    _, body = await get_json(polling_client, "/flags")
    assert body["flags"] == CHANGED
    assert body["polls"] >= 1
    assert config_service.requests >= 2


@pytest.mark.asyncio
async def test_a_failed_poll_keeps_the_old_flags_and_the_poller_alive(
    polling_client: Client, config_service: ConfigService
) -> None:
    store = polling_client.app[FLAGS]
    config_service.status = 500

    await until(store, lambda: store.failures >= 1)

    _, body = await get_json(polling_client, "/flags")
    assert body["flags"] == INITIAL
    assert body["last_error"].startswith("ClientResponseError: 500")
    assert not polling_client.app[POLLER].done()

    config_service.status, config_service.flags = 200, dict(CHANGED)
    await until(store, lambda: store.flags == CHANGED)
    assert store.last_error is None


@pytest.mark.asyncio
async def test_flags_that_turn_invalid_are_not_taken(polling_client: Client, config_service: ConfigService) -> None:
    store = polling_client.app[FLAGS]
    config_service.flags = {"dark_mode": "yes"}

    await until(store, lambda: store.failures >= 1)

    assert store.flags == INITIAL
    assert store.last_error == "ValueError: flag 'dark_mode' must be true or false, got 'yes'"


@pytest.mark.asyncio
async def test_each_poll_is_counted_once_and_each_failed_poll_once(
    aiohttp_client: AiohttpClient, config_service: ConfigService
) -> None:
    # The upstream answers only when the test hands it a status, so polls happen one at a time.
    answers: asyncio.Queue[int] = asyncio.Queue()
    config_service.answers = answers
    answers.put_nowait(200)  # for the startup load
    client = await aiohttp_client(create_app(Settings(config_service.url, poll_interval=FAST)))
    store = client.app[FLAGS]

    counts: list[tuple[int, int]] = []
    for status in (500, 503, 200):
        store.polled.clear()
        answers.put_nowait(status)
        async with asyncio.timeout(WAIT):
            await store.polled.wait()
        counts.append((store.polls, store.failures))

    assert counts == [(1, 1), (2, 2), (3, 2)]  # a good poll counts, and does not reset the failures
    assert await get_json(client, "/flags") == (200, {"flags": INITIAL, "polls": 3, "failures": 2, "last_error": None})
    config_service.answers = None  # from now on the upstream answers at once, so no request is left hanging
    answers.put_nowait(200)  # for a request that may already be waiting


# --- Shutdown ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_shutdown_cancels_the_poller_and_closes_the_session(
    aiohttp_client: AiohttpClient, config_service: ConfigService
) -> None:
    client = await aiohttp_client(create_app(Settings(config_service.url, poll_interval=QUIET)))
    poller, session = client.app[POLLER], client.app[SESSION]

    async with asyncio.timeout(WAIT):  # a shutdown that hangs fails here instead of hanging the run
        await client.close()  # runs the app's shutdown now; the fixture's own close later is a no-op

    assert poller.cancelled()
    assert session.closed


@pytest.mark.asyncio
async def test_the_poller_has_stopped_before_its_session_closes(
    aiohttp_client: AiohttpClient, config_service: ConfigService
) -> None:
    client = await aiohttp_client(create_app(Settings(config_service.url, poll_interval=FAST)))
    store, poller, session = client.app[FLAGS], client.app[POLLER], client.app[SESSION]
    await until(store, lambda: store.polls >= 1)
    session_closed_when_poller_stopped: list[bool] = []
    poller.add_done_callback(lambda _: session_closed_when_poller_stopped.append(session.closed))

    async with asyncio.timeout(WAIT):
        await client.close()

    assert session_closed_when_poller_stopped == [False]
    assert store.failures == 0


# --- A startup that fails ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "flags", "error"),
    [
        (503, INITIAL, r"ClientResponseError: 503, message='Service Unavailable'"),
        (200, {"dark_mode": 1}, r"ValueError: flag 'dark_mode' must be true or false, got 1"),
        (200, ["dark_mode"], r"ValueError: expected a JSON object of flags, got list"),
    ],
)
@pytest.mark.asyncio
async def test_a_startup_that_cannot_load_the_flags_fails_with_a_clear_error(
    config_service: ConfigService, status: int, flags: Any, error: str
) -> None:
    config_service.status, config_service.flags = status, flags
    app = create_app(Settings(config_service.url))
    # TestServer rather than aiohttp_client: see the pitfall test at the end of the file.
    server = TestServer(app)

    with pytest.raises(
        StartupError, match=rf"could not load the initial flags from http://127\.0\.0\.1:\d+/flags: {error}"
    ):
        await server.start_server()

    # aiohttp does not undo a half-done startup by itself: the session opened by
    # the first cleanup_ctx step is still open until the server is closed.
    assert not app[SESSION].closed
    assert POLLER not in app
    await server.close()
    assert app[SESSION].closed


@pytest.mark.asyncio
async def test_an_unreachable_config_service_fails_the_startup(refused_url: str) -> None:
    app = create_app(Settings(refused_url))
    server = TestServer(app)

    with pytest.raises(StartupError, match="ClientConnectorError") as excinfo:
        await server.start_server()
    await server.close()

    assert isinstance(excinfo.value.__cause__, aiohttp.ClientConnectionError)
    assert app[SESSION].closed


@pytest.mark.asyncio
async def test_a_config_service_that_never_answers_fails_the_startup_after_the_request_timeout(
    config_service: ConfigService,
) -> None:
    config_service.stall = True
    app = create_app(Settings(config_service.url, request_timeout=0.05))
    server = TestServer(app)

    with pytest.raises(StartupError, match=r"from http://\S+: TimeoutError$"):
        await server.start_server()
    await server.close()

    assert config_service.requests == 1
    assert app[SESSION].closed


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"flags_url": "config-service/flags"},
            r"flags_url must be an absolute http\(s\) URL, got 'config-service/flags'",
        ),
        (
            {"flags_url": "file:///etc/flags.json"},
            r"flags_url must be an absolute http\(s\) URL, got 'file:///etc/flags.json'",
        ),
        (
            {"flags_url": "http:///flags"},  # an http scheme, but no host
            r"flags_url must be an absolute http\(s\) URL, got 'http:///flags'",
        ),
        (
            {"flags_url": "http://config/flags", "poll_interval": 0},
            "poll_interval and request_timeout must be positive, got 0 and 5.0",
        ),
        (
            {"flags_url": "http://config/flags", "request_timeout": 0},
            "poll_interval and request_timeout must be positive, got 30.0 and 0",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_before_startup(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        Settings(**settings)


@pytest.mark.parametrize("url", ["http://config/flags", "https://config/flags"])
def test_an_http_or_https_url_is_accepted(url: str) -> None:
    assert Settings(url).flags_url == url


def test_parse_flags_returns_a_copy() -> None:
    data = {"a": True}
    parsed = parse_flags(data)
    data["a"] = False
    assert parsed == {"a": True}


# --- Pitfalls ----------------------------------------------------------------------


def test_a_plain_string_key_fails_where_warnings_are_errors(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n")
    pytester.makepyfile(
        """
        from aiohttp import web

        SESSION = web.AppKey("session", str)

        def test_string_key():
            app = web.Application()
            app["session"] = "shared"

        def test_app_key():
            app = web.Application()
            app[SESSION] = "shared"
            assert app[SESSION] == "shared"
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:hypothesispytest", "--tb=short")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   aiohttp.web_exceptions.NotAppKeyWarning: It is recommended to use web.AppKey instances for keys.",
            "FAILED *::test_string_key*",
        ]
    )


def test_a_startup_failure_inside_aiohttp_client_leaks_a_client_session(pytester: pytest.Pytester) -> None:
    # The pitfall: aiohttp_client builds a TestClient (which opens a ClientSession)
    # before it starts the app. When startup raises, nobody closes that session.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n")
    pytester.makepyfile(
        """
        import pytest
        from aiohttp import web
        from aiohttp.test_utils import TestServer

        def make_app():
            async def refuse_to_start(app):
                raise RuntimeError("config service unreachable")
                yield

            app = web.Application()
            app.cleanup_ctx.append(refuse_to_start)
            return app

        @pytest.mark.asyncio
        async def test_with_test_server():
            server = TestServer(make_app())
            with pytest.raises(RuntimeError, match="unreachable"):
                await server.start_server()
            await server.close()

        @pytest.mark.asyncio
        async def test_with_aiohttp_client(aiohttp_client):
            with pytest.raises(RuntimeError, match="unreachable"):
                await aiohttp_client(make_app())
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:hypothesispytest", "--tb=short")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   ResourceWarning: Unclosed client session <aiohttp.client.ClientSession object at 0x*>",
            "E   pytest.PytestUnraisableExceptionWarning: Exception ignored in: <function ClientSession.__del__*>",
            "FAILED *::test_with_aiohttp_client*",
        ]
    )
