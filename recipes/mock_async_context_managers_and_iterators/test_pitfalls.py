"""A mock of the wrong kind in each place relay looks: the error each gives, or the silence."""

import asyncio
from unittest.mock import AsyncMock, MagicMock, create_autospec

import pytest

from .relay import relay

pytest_plugins = ["pytester"]

URL = "https://files.example.org/orders.csv"
NEVER_AWAITED = r"^coroutine 'AsyncMockMixin\._execute_mock_call' was never awaited$"
NOT_A_CONTEXT_MANAGER = r"^'coroutine' object does not support the asynchronous context manager protocol$"
# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
FAST = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]


@pytest.mark.asyncio
async def test_an_async_mock_session_hands_async_with_a_coroutine() -> None:
    session = AsyncMock(name="session")  # the mistake: session.get(url) is called, never awaited
    writer = create_autospec(asyncio.StreamWriter, instance=True)

    with (
        pytest.warns(RuntimeWarning, match=NEVER_AWAITED),  # the dropped coroutine, as it is collected
        pytest.raises(TypeError, match=NOT_A_CONTEXT_MANAGER),
    ):
        await relay(session, URL, writer, max_bytes=16)


@pytest.mark.asyncio
async def test_configuring_the_context_manager_instead_of_what_aenter_returns() -> None:
    session = MagicMock(name="session")
    # The mistake: the body is set on what get() returns, but `as response` binds what
    # __aenter__ returns: by default an AsyncMock, whose every method returns a coroutine.
    session.get.return_value.content.iter_chunked.return_value.__aiter__.return_value = [b"id,total\n"]
    writer = create_autospec(asyncio.StreamWriter, instance=True)

    with (
        pytest.warns(RuntimeWarning, match=NEVER_AWAITED) as warned,
        pytest.raises(TypeError, match=r"^'async for' requires an object with __aiter__ method, got coroutine$"),
    ):
        await relay(session, URL, writer, max_bytes=16)

    assert len(warned) == 2  # raise_for_status() and iter_chunked() each made a coroutine nobody awaited
    assert isinstance(session.get.return_value.__aenter__.return_value, AsyncMock)


@pytest.mark.asyncio
async def test_a_magic_mock_writer_cannot_be_awaited() -> None:
    session = MagicMock(name="session")
    response = session.get.return_value.__aenter__.return_value = MagicMock(name="response")
    response.content.iter_chunked.return_value.__aiter__.return_value = [b"id,total\n"]
    writer = MagicMock(name="writer")  # the mistake: drain() is async, and a MagicMock returns a MagicMock

    with pytest.raises(TypeError, match=r"^object MagicMock can't be used in 'await' expression$"):
        await relay(session, URL, writer, max_bytes=16)

    writer.write.assert_called_once_with(b"id,total\n")  # the sync call before it went through


def test_an_async_mock_where_a_sync_method_was_meant_fails_only_under_warnings_as_errors(
    pytester: pytest.Pytester,
) -> None:
    # raise_for_status() on an AsyncMock response returns a coroutine that nobody awaits: the
    # happy path passes with a warning, and an error status goes unnoticed. Autospec gets it right.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n")
    pytester.makepyfile(
        test_async_mock_response="""
        from unittest.mock import AsyncMock, MagicMock, create_autospec

        import aiohttp
        import pytest

        async def download(session, url):
            async with session.get(url) as response:
                response.raise_for_status()
                return await response.read()

        def answering(response):
            session = MagicMock()
            session.get.return_value.__aenter__.return_value = response
            response.read.return_value = b"data"
            return session

        def error_503():
            return aiohttp.ClientResponseError(MagicMock(), (), status=503)

        @pytest.mark.asyncio
        @pytest.mark.filterwarnings("default")
        async def test_a_with_default_warnings():
            assert await download(answering(AsyncMock()), "/f") == b"data"

        @pytest.mark.asyncio
        async def test_b_with_warnings_as_errors():
            assert await download(answering(AsyncMock()), "/f") == b"data"

        @pytest.mark.asyncio
        @pytest.mark.filterwarnings("default")
        async def test_c_an_error_status():
            response = AsyncMock()
            response.raise_for_status.side_effect = error_503()
            with pytest.raises(aiohttp.ClientResponseError):
                await download(answering(response), "/f")

        @pytest.mark.asyncio
        async def test_d_autospec_of_the_real_response():
            response = create_autospec(aiohttp.ClientResponse, instance=True)
            assert await download(answering(response), "/f") == b"data"
            response.raise_for_status.side_effect = error_503()
            with pytest.raises(aiohttp.ClientResponseError):
                await download(answering(response), "/f")
        """,
    )
    result = pytester.runpytest(*FAST)

    result.assert_outcomes(passed=2, failed=2, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_b_with_warnings_as_errors _*",
            "E       RuntimeWarning: coroutine 'AsyncMockMixin._execute_mock_call' was never awaited",
            "E*pytest.PytestUnraisableExceptionWarning: Exception ignored in: "
            "<coroutine object AsyncMockMixin._execute_mock_call at 0x*>",
            "*_ test_c_an_error_status _*",
            "E       Failed: DID NOT RAISE ClientResponseError",
            "*= warnings summary =*",
            "test_async_mock_response.py::test_a_with_default_warnings",
            "test_async_mock_response.py::test_c_an_error_status",
            "*RuntimeWarning: coroutine 'AsyncMockMixin._execute_mock_call' was never awaited",
            "    response.raise_for_status()",
        ]
    )
