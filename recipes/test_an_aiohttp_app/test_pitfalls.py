"""The doc's client fixture in strict mode, string app keys, and aiohttp's plain-text errors."""

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

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


def test_the_doc_client_fixture_is_an_error_in_strict_mode(pytester: pytest.Pytester) -> None:
    # An async @pytest.fixture is handled only in auto mode; strict mode (the
    # default) on pytest 9 refuses it. @pytest_asyncio.fixture works in both.
    pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import pytest
        import pytest_asyncio
        from aiohttp import web

        async def home(request):
            return web.json_response({"message": "hi"})

        @pytest.fixture
        def app():
            app = web.Application()
            app.router.add_get("/", home)
            return app

        @pytest.fixture
        async def doc_client(aiohttp_client, app):
            return await aiohttp_client(app)

        @pytest_asyncio.fixture
        async def fixed_client(aiohttp_client, app):
            return await aiohttp_client(app)

        @pytest.mark.asyncio
        async def test_doc_style(doc_client):
            assert (await doc_client.get("/")).status == 200

        @pytest.mark.asyncio
        async def test_fixed(fixed_client):
            async with fixed_client.get("/") as response:
                assert await response.json() == {"message": "hi"}
        """
    )
    result = pytester.runpytest(*FAST)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*'test_doc_style' requested an async fixture 'doc_client', with no plugin or hook that handled it."
            " This is an error, as pytest does not natively support it.",
        ]
    )


def test_a_plain_string_app_key_warns() -> None:
    # str keys still work, but aiohttp warns, and warnings are errors in a strict suite.
    app = web.Application()
    expected = (
        r"^It is recommended to use web\.AppKey instances for keys\.\n"
        r"https://docs\.aiohttp\.org/en/stable/web_advanced\.html#application-s-config$"
    )
    with pytest.warns(web.NotAppKeyWarning, match=expected):
        app["notes"] = []


@pytest.mark.asyncio
async def test_without_the_middleware_a_404_is_plain_text(aiohttp_client: AiohttpClient) -> None:
    # What the json_errors middleware is for: aiohttp's own errors are text/plain.
    bare = await aiohttp_client(web.Application())
    async with bare.get("/nothing-here") as response:
        assert response.status == 404
        with pytest.raises(
            aiohttp.ContentTypeError,
            match=r"^404, message='Attempt to decode JSON with unexpected mimetype: text/plain; charset=utf-8'",
        ):
            await response.json()
