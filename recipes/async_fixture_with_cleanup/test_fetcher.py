"""An async yield fixture owns the ClientSession; a local fake server plays the upstream."""

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
    """Set up before ``session`` and torn down after it, so it can check the session was closed."""
    sessions: list[aiohttp.ClientSession] = []
    yield sessions
    leaked = [s for s in sessions if not s.closed]
    assert not leaked, f"the session fixture left {len(leaked)} session(s) open"


@pytest_asyncio.fixture
async def session(opened_sessions: list[aiohttp.ClientSession]) -> AsyncIterator[aiohttp.ClientSession]:
    """One ClientSession per test, closed at teardown even when the test fails."""
    async with aiohttp.ClientSession() as client_session:
        opened_sessions.append(client_session)
        yield client_session


@pytest_asyncio.fixture
async def upstream(aiohttp_server: AiohttpServer) -> TestServer:
    """A fake upstream on 127.0.0.1 with one route per way a reply can go wrong."""
    never = asyncio.Event()

    async def catalog(request: web.Request) -> web.Response:
        return web.json_response(CATALOG)

    async def accepted(request: web.Request) -> web.Response:
        return web.json_response({"queued": True}, status=202)

    async def choices(request: web.Request) -> web.Response:
        return web.json_response({"pick": ["/a", "/b"]}, status=300)

    async def problem(request: web.Request) -> web.Response:
        return web.json_response({"title": "still JSON"}, content_type="application/problem+json")

    async def crash(request: web.Request) -> web.Response:
        raise web.HTTPInternalServerError()

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<h1>maintenance</h1>", content_type="text/html")

    async def truncated(request: web.Request) -> web.Response:
        return web.Response(text='{"items": [', content_type="application/json")

    async def empty(request: web.Request) -> web.Response:
        return web.Response(body=b"", content_type="application/json")

    async def not_utf8(request: web.Request) -> web.Response:
        return web.Response(body=b'{"name": "caf\xe9"}', content_type="application/json")

    async def stall(request: web.Request) -> web.Response:
        await never.wait()  # cancelled by the server when the client gives up
        raise AssertionError("unreachable")  # pragma: no cover

    app = web.Application()
    app.router.add_get("/catalog", catalog)
    app.router.add_get("/accepted", accepted)
    app.router.add_get("/choices", choices)
    app.router.add_get("/problem", problem)
    app.router.add_get("/crash", crash)
    app.router.add_get("/html", html)
    app.router.add_get("/truncated", truncated)
    app.router.add_get("/empty", empty)
    app.router.add_get("/not-utf8", not_utf8)
    app.router.add_get("/stall", stall)
    return await aiohttp_server(app)


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: connecting is refused, and no one else can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/catalog"


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


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


@pytest.mark.asyncio
async def test_any_2xx_status_is_success(session: aiohttp.ClientSession, upstream: TestServer) -> None:
    assert await fetch_json(session, url(upstream, "/accepted")) == {"queued": True}


@pytest.mark.asyncio
async def test_json_media_types_with_a_suffix_are_accepted(
    session: aiohttp.ClientSession, upstream: TestServer
) -> None:
    assert await fetch_json(session, url(upstream, "/problem")) == {"title": "still JSON"}


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/crash", 500, "HTTP 500 Internal Server Error"),
        ("/nowhere", 404, "HTTP 404 Not Found"),
        ("/choices", 300, "HTTP 300 Multiple Choices"),  # a JSON body does not make it a success
    ],
)
@pytest.mark.asyncio
async def test_error_status_becomes_fetch_error_with_the_status(
    session: aiohttp.ClientSession, upstream: TestServer, path: str, status: int, reason: str
) -> None:
    target = url(upstream, path)

    with pytest.raises(FetchError, match=reason) as excinfo:
        await fetch_json(session, target)

    assert (excinfo.value.status, excinfo.value.url) == (status, target)
    assert str(excinfo.value).startswith(f"GET {target} failed")


@pytest.mark.asyncio
async def test_wrong_content_type_becomes_fetch_error(session: aiohttp.ClientSession, upstream: TestServer) -> None:
    target = url(upstream, "/html")
    with pytest.raises(FetchError, match="expected JSON, got content type 'text/html'") as excinfo:
        await fetch_json(session, target)
    assert (excinfo.value.status, excinfo.value.url) == (200, target)


@pytest.mark.parametrize("path", ["/truncated", "/empty", "/not-utf8"])
@pytest.mark.asyncio
async def test_body_that_is_not_json_becomes_fetch_error(
    session: aiohttp.ClientSession, upstream: TestServer, path: str
) -> None:
    target = url(upstream, path)
    with pytest.raises(FetchError, match="body is not valid JSON") as excinfo:
        await fetch_json(session, target)
    assert (excinfo.value.status, excinfo.value.url) == (200, target)
    assert isinstance(excinfo.value.__cause__, ValueError)


@pytest.mark.asyncio
async def test_refused_connection_becomes_fetch_error_without_status(
    session: aiohttp.ClientSession, refused_url: str
) -> None:
    with pytest.raises(FetchError, match="ClientConnectorError") as excinfo:
        await fetch_json(session, refused_url)
    assert (excinfo.value.status, excinfo.value.url) == (None, refused_url)
    assert isinstance(excinfo.value.__cause__, aiohttp.ClientConnectionError)


@pytest.mark.asyncio
async def test_https_urls_are_accepted(session: aiohttp.ClientSession, refused_url: str) -> None:
    https_url = refused_url.replace("http://", "https://")
    with pytest.raises(FetchError, match="ClientConnectorError"):  # refused, but not rejected as a bad URL
        await fetch_json(session, https_url)


@pytest.mark.asyncio
async def test_upstream_that_never_answers_hits_the_session_timeout(upstream: TestServer) -> None:
    # A session of its own, because the timeout is part of the session's configuration.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.02)) as impatient:
        target = url(upstream, "/stall")
        with pytest.raises(FetchError, match=r"no complete response within the session timeout \(0\.02 s\)") as excinfo:
            await fetch_json(impatient, target)
    assert (excinfo.value.status, excinfo.value.url) == (None, target)
    assert isinstance(excinfo.value.__cause__, TimeoutError)


@pytest.mark.asyncio
async def test_a_tighter_deadline_for_one_call_comes_from_asyncio_timeout(
    session: aiohttp.ClientSession, upstream: TestServer
) -> None:
    # The caller's own deadline surfaces as the caller's TimeoutError, not as FetchError.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.02):
            await fetch_json(session, url(upstream, "/stall"))
    assert not session.closed


@pytest.mark.parametrize("bad_url", ["", "/catalog", "ftp://127.0.0.1/catalog", "http:///catalog"])
@pytest.mark.asyncio
async def test_a_url_that_is_not_absolute_http_is_refused(session: aiohttp.ClientSession, bad_url: str) -> None:
    with pytest.raises(ValueError, match="expected an absolute http"):
        await fetch_json(session, bad_url)


@pytest.mark.asyncio
async def test_a_closed_session_cannot_be_reused(upstream: TestServer) -> None:
    async with aiohttp.ClientSession() as short_lived:
        assert await fetch_json(short_lived, url(upstream, "/catalog")) == CATALOG

    with pytest.raises(RuntimeError, match="Session is closed"):
        await fetch_json(short_lived, url(upstream, "/catalog"))


@pytest.mark.asyncio
async def test_plain_aiohttp_json_rejects_a_wrong_content_type(
    session: aiohttp.ClientSession, upstream: TestServer
) -> None:
    # What fetch_json saves its callers from: aiohttp's own error for an HTML reply.
    async with session.get(upstream.make_url("/html")) as response:
        with pytest.raises(
            aiohttp.ContentTypeError, match="Attempt to decode JSON with unexpected mimetype: text/html"
        ):
            await response.json()


def test_a_session_fixture_that_never_closes_fails_another_test(pytester: pytest.Pytester) -> None:
    # The pitfall: the leak is reported when the garbage collector finds the
    # session, which is while pytest sets up whichever test runs next.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n")
    pytester.makepyfile(
        """
        import aiohttp
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def leaky_session():
            return aiohttp.ClientSession()

        @pytest_asyncio.fixture
        async def closed_session():
            async with aiohttp.ClientSession() as session:
                yield session

        @pytest.mark.asyncio
        async def test_a_uses_the_leaky_session(leaky_session):
            assert not leaky_session.closed

        @pytest.mark.asyncio
        async def test_b_innocent():
            pass

        @pytest.mark.asyncio
        async def test_c_uses_the_closed_session(closed_session):
            assert not closed_session.closed

        @pytest.mark.asyncio
        async def test_d_innocent():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_b_innocent*",
            "*ResourceWarning: Unclosed client session*",
        ]
    )


def test_a_session_kept_in_a_module_global_fails_the_next_test(pytester: pytest.Pytester) -> None:
    # A "shared" session created lazily in a global belongs to the first test's
    # loop; pytest-asyncio closes that loop, and the next test that reuses it fails.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import aiohttp
        import pytest
        from aiohttp import web

        _session = None

        def shared_session():
            global _session
            if _session is None:
                _session = aiohttp.ClientSession()
            return _session

        async def hello(request):
            return web.json_response({"ok": True})

        def make_app():
            app = web.Application()
            app.router.add_get("/", hello)
            return app

        @pytest.mark.asyncio
        async def test_first(aiohttp_server):
            server = await aiohttp_server(make_app())
            async with shared_session().get(server.make_url("/")) as resp:
                assert resp.status == 200

        @pytest.mark.asyncio
        async def test_second(aiohttp_server):
            server = await aiohttp_server(make_app())
            async with shared_session().get(server.make_url("/")) as resp:
                assert resp.status == 200
        """
    )
    # A subprocess: the global session is never closed, and must not be collected in our tests.
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "-p", "no:xdist", "-p", "no:hypothesispytest", "-W", "ignore::ResourceWarning"
    )

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["E *RuntimeError: Event loop is closed"])
