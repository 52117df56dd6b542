"""An async yield fixture owns the ClientSession and closes it; a local fake server plays the upstream."""

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fetcher import FetchError, fetch_json

CATALOG = {"items": [{"id": 1, "name": "kettle"}, {"id": 2, "name": "teapot"}]}


@pytest.fixture
def opened_sessions() -> Iterator[list[aiohttp.ClientSession]]:
    """Set up before ``session``, torn down after it: so it can check that the session was closed."""
    sessions: list[aiohttp.ClientSession] = []
    yield sessions
    assert all(s.closed for s in sessions), "the session fixture left a session open"


@pytest_asyncio.fixture
async def session(opened_sessions: list[aiohttp.ClientSession]) -> AsyncIterator[aiohttp.ClientSession]:
    """One ClientSession per test, on the test's loop, closed at teardown even when the test fails."""
    async with aiohttp.ClientSession() as client_session:
        opened_sessions.append(client_session)
        yield client_session


@pytest.mark.asyncio
async def test_returns_the_decoded_document(session: aiohttp.ClientSession, upstream: TestServer) -> None:
    assert await fetch_json(session, url(upstream, "/catalog")) == CATALOG


@pytest.mark.asyncio
async def test_the_session_stays_open_for_the_rest_of_the_test(
    session: aiohttp.ClientSession, upstream: TestServer
) -> None:
    await fetch_json(session, url(upstream, "/catalog"))

    assert not session.closed  # borrowed, not closed by fetch_json
    assert await fetch_json(session, url(upstream, "/catalog")) == CATALOG


# --- The fake upstream the tests talk to, and the ways a fetch can fail ---------------


@pytest_asyncio.fixture
async def upstream(aiohttp_server: AiohttpServer) -> TestServer:
    """A real aiohttp app on 127.0.0.1, one route per kind of reply; any other path is a 404."""
    never = asyncio.Event()

    async def catalog(request: web.Request) -> web.Response:
        return web.json_response(CATALOG)

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<h1>maintenance</h1>", content_type="text/html")

    async def truncated(request: web.Request) -> web.Response:
        return web.Response(text='{"items": [', content_type="application/json")

    async def stall(request: web.Request) -> web.Response:
        await never.wait()  # cancelled by the server when the client gives up
        raise AssertionError("unreachable")  # pragma: no cover

    app = web.Application()
    for path, handler in {"/catalog": catalog, "/html": html, "/truncated": truncated, "/stall": stall}.items():
        app.router.add_get(path, handler)
    return await aiohttp_server(app)


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: connecting is refused, and no one else can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/catalog"


@pytest.mark.asyncio
async def test_an_error_status_becomes_fetch_error_with_the_status(
    session: aiohttp.ClientSession, upstream: TestServer
) -> None:
    target = url(upstream, "/nowhere")
    with pytest.raises(FetchError) as excinfo:
        await fetch_json(session, target)
    assert str(excinfo.value) == f"GET {target} failed: HTTP 404 Not Found"
    assert (excinfo.value.url, excinfo.value.status) == (target, 404)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/html", "ContentTypeError: 200, message='Attempt to decode JSON with unexpected mimetype: text/html"),
        ("/truncated", "JSONDecodeError: Expecting value: line 1 column 12 (char 11)"),
    ],
)
@pytest.mark.asyncio
async def test_a_body_that_is_not_json_becomes_fetch_error(
    session: aiohttp.ClientSession, upstream: TestServer, path: str, reason: str
) -> None:
    with pytest.raises(FetchError) as excinfo:
        await fetch_json(session, url(upstream, path))
    assert str(excinfo.value).startswith(f"GET {url(upstream, path)} failed: {reason}")
    assert excinfo.value.status is None


@pytest.mark.asyncio
async def test_a_refused_connection_becomes_fetch_error(session: aiohttp.ClientSession, refused_url: str) -> None:
    with pytest.raises(FetchError, match=f"GET {refused_url} failed: ClientConnectorError") as excinfo:
        await fetch_json(session, refused_url)
    assert (excinfo.value.url, excinfo.value.status) == (refused_url, None)


@pytest.mark.asyncio
async def test_an_upstream_that_never_answers_hits_the_session_timeout(upstream: TestServer) -> None:
    # A session of its own: the timeout is part of the session's configuration.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.02)) as impatient:
        with pytest.raises(FetchError, match=r"failed: TimeoutError") as excinfo:
            await fetch_json(impatient, url(upstream, "/stall"))
    assert isinstance(excinfo.value.__cause__, TimeoutError)


@pytest.mark.asyncio
async def test_a_tighter_deadline_for_one_call_comes_from_asyncio_timeout(
    session: aiohttp.ClientSession, upstream: TestServer
) -> None:
    # The caller's own deadline cancels the call and surfaces as the caller's TimeoutError, not FetchError.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.02):
            await fetch_json(session, url(upstream, "/stall"))
    assert not session.closed
