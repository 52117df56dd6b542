"""A startup failure inside aiohttp_client leaks a session; a string app key fails under warnings-as-errors."""

import warnings

import pytest
from aiohttp import web

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


def test_a_startup_failure_inside_aiohttp_client_leaks_a_client_session(pytester: pytest.Pytester) -> None:
    # aiohttp_client builds a TestClient, which opens a ClientSession, before it starts
    # the app. When the startup raises, nobody closes that session; TestServer + close() does.
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
    result = pytester.runpytest(*FAST, "--tb=short")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   ResourceWarning: Unclosed client session <aiohttp.client.ClientSession object at 0x*>",
            "E   pytest.PytestUnraisableExceptionWarning: Exception ignored in: <function ClientSession.__del__*>",
            "FAILED *::test_with_aiohttp_client*",
        ]
    )


def test_a_plain_string_key_fails_where_warnings_are_errors() -> None:
    # `app["session"] = ...` still works, but aiohttp warns; with filterwarnings = error
    # that fails the test, and from a cleanup_ctx it fails the app's startup.
    expected = (
        r"^It is recommended to use web\.AppKey instances for keys\.\n"
        r"https://docs\.aiohttp\.org/en/stable/web_advanced\.html#application-s-config$"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(web.NotAppKeyWarning, match=expected):
            web.Application()["session"] = "shared"
