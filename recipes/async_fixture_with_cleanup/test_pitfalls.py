"""Sessions that outlive their test, reproduced in throwaway projects; and aiohttp's own JSON error."""

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

pytest_plugins = ["pytester"]

# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
FAST = [
    "--disable-plugin-autoload",
    "-p",
    "pytest_asyncio.plugin",
    "-p",
    "pytest_aiohttp.plugin",
    "-p",
    "no:cacheprovider",
]


def test_a_session_fixture_that_never_closes_fails_another_test(pytester: pytest.Pytester) -> None:
    # The leak is reported when the session is garbage-collected, which is while
    # pytest sets up whichever test runs next: that innocent test errors.
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
    result = pytester.runpytest(*FAST)

    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_b_innocent*", "*ResourceWarning: Unclosed client session*"])


def test_a_session_kept_in_a_module_global_fails_the_next_test(pytester: pytest.Pytester) -> None:
    # A "shared" session created lazily in a global belongs to the first test's loop;
    # pytest-asyncio closes that loop after the test, and the next test that reuses it fails.
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

        @pytest.mark.asyncio
        @pytest.mark.parametrize("run", ["first", "second"])
        async def test_fetch(aiohttp_server, run):
            app = web.Application()
            app.router.add_get("/", hello)
            server = await aiohttp_server(app)
            async with shared_session().get(server.make_url("/")) as resp:
                assert resp.status == 200
        """
    )
    # A subprocess: the global session is never closed, and must not be collected in our tests.
    result = pytester.runpytest_subprocess(*FAST, "-W", "ignore::ResourceWarning")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*_ test_fetch[[]second[]] _*", "E *RuntimeError: Event loop is closed"])


@pytest.mark.asyncio
async def test_plain_aiohttp_json_rejects_a_wrong_content_type(aiohttp_server: AiohttpServer) -> None:
    # resp.json() on a reply that is not JSON raises a ClientResponseError subclass that callers
    # rarely expect; fetch_json turns it into a FetchError.
    async def maintenance(request: web.Request) -> web.Response:
        return web.Response(text="<h1>maintenance</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", maintenance)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session, session.get(server.make_url("/")) as response:
        expected = "200, message='Attempt to decode JSON with unexpected mimetype: text/html; charset=utf-8'"
        with pytest.raises(aiohttp.ContentTypeError, match=expected):
            await response.json()
