"""Mock an async context manager, an async iterator, and a class that mixes sync and async methods."""

import asyncio
import hashlib
from collections.abc import AsyncIterator
from unittest.mock import ANY, AsyncMock, MagicMock, call, create_autospec

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from .relay import Relayed, TooLarge, relay

URL = "https://files.example.org/orders.csv"
BODY = [b"id,total\n", b"1,9.50\n"]  # 16 bytes, in two chunks


@pytest.fixture
def response() -> MagicMock:
    # What `as response` binds: its methods are sync, so a MagicMock. `async for` iterates __aiter__'s value.
    response = MagicMock(name="response")
    response.content.iter_chunked.return_value.__aiter__.return_value = BODY
    return response


@pytest.fixture
def session(response: MagicMock) -> MagicMock:
    # session.get(url) is called, not awaited: a MagicMock, never an AsyncMock. What it returns is
    # the context manager; `as response` binds what its __aenter__ returns, so configure that.
    session = MagicMock(name="session")
    session.get.return_value.__aenter__.return_value = response
    return session


@pytest.fixture
def writer() -> MagicMock:
    # asyncio.StreamWriter mixes both kinds: autospec makes write() a MagicMock, drain() an AsyncMock.
    writer: MagicMock = create_autospec(asyncio.StreamWriter, instance=True)
    return writer


@pytest.mark.asyncio
async def test_each_chunk_is_written_then_drained_and_the_connection_released(
    session: MagicMock, response: MagicMock, writer: MagicMock
) -> None:
    relayed = await relay(session, URL, writer, max_bytes=16)  # exactly the body's size is allowed

    assert relayed == Relayed(16, hashlib.sha256(b"".join(BODY)).hexdigest())
    session.get.assert_called_once_with(URL)
    response.content.iter_chunked.assert_called_once_with(64 * 1024)
    assert writer.mock_calls == [call.write(BODY[0]), call.drain(), call.write(BODY[1]), call.drain()]
    session.get.return_value.__aexit__.assert_awaited_once_with(None, None, None)  # left without an error


@pytest.mark.asyncio
async def test_an_error_status_raises_before_anything_is_written(
    session: MagicMock, response: MagicMock, writer: MagicMock
) -> None:
    error = aiohttp.ClientResponseError(MagicMock(), (), status=404, message="Not Found")
    response.raise_for_status.side_effect = error  # a sync method: raised by the call itself

    with pytest.raises(aiohttp.ClientResponseError) as excinfo:
        await relay(session, URL, writer, max_bytes=16)

    assert excinfo.value is error
    response.content.iter_chunked.assert_not_called()
    assert writer.mock_calls == []
    # __aexit__ saw the error and returned False (MagicMock's default), so the error went on out.
    session.get.return_value.__aexit__.assert_awaited_once_with(aiohttp.ClientResponseError, error, ANY)


@pytest.mark.asyncio
async def test_a_body_over_the_limit_stops_the_relay_and_releases_the_connection(
    session: MagicMock, writer: MagicMock
) -> None:
    with pytest.raises(TooLarge, match=rf"^{URL}: the body is longer than 15 bytes$"):
        await relay(session, URL, writer, max_bytes=15)

    assert writer.mock_calls == [call.write(BODY[0]), call.drain()]  # the chunk over the limit is not sent
    session.get.return_value.__aexit__.assert_awaited_once_with(TooLarge, ANY, ANY)


@pytest.mark.asyncio
async def test_a_stream_that_fails_half_way_is_faked_with_an_async_generator(
    session: MagicMock, response: MagicMock, writer: MagicMock
) -> None:
    async def cut_short(chunk_size: int) -> AsyncIterator[bytes]:
        # A list cannot fail half-way; a small async generator can.
        yield BODY[0]
        raise aiohttp.ClientPayloadError("Response payload is not completed")

    response.content.iter_chunked.side_effect = cut_short  # each call gets a fresh generator

    with pytest.raises(aiohttp.ClientPayloadError, match=r"^Response payload is not completed$"):
        await relay(session, URL, writer, max_bytes=16)

    assert writer.mock_calls == [call.write(BODY[0]), call.drain()]
    session.get.return_value.__aexit__.assert_awaited_once_with(aiohttp.ClientPayloadError, ANY, ANY)


@pytest.mark.asyncio
async def test_autospec_sorts_async_methods_from_sync_ones_and_checks_every_call(
    response: MagicMock, writer: MagicMock
) -> None:
    session = create_autospec(aiohttp.ClientSession, instance=True)
    assert not isinstance(session.get, AsyncMock)  # a plain def that returns a context manager
    assert isinstance(session.close, AsyncMock)  # an async def
    assert isinstance(writer.drain, AsyncMock)
    assert not isinstance(writer.write, AsyncMock)

    with pytest.raises(TypeError, match=r"^missing a required argument: 'url'$"):
        session.get()
    with pytest.raises(TypeError, match=r"^missing a required argument: 'data'$"):
        writer.write()

    session.get.return_value.__aenter__.return_value = response
    assert (await relay(session, URL, writer, max_bytes=16)).size == 16


@pytest_asyncio.fixture
async def files(aiohttp_server: AiohttpServer) -> AsyncIterator[aiohttp.ClientSession]:
    """The real objects the mocks stand in for: a local server, a real session, a real stream."""

    async def orders(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 150_000)  # more than two chunks of 64 KiB

    app = web.Application()
    app.router.add_get("/orders.csv", orders)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession(base_url=server.make_url("/")) as client_session:
        yield client_session


@pytest.mark.asyncio
async def test_relay_works_with_the_real_aiohttp_objects(files: aiohttp.ClientSession, writer: MagicMock) -> None:
    relayed = await relay(files, "/orders.csv", writer, max_bytes=150_000)

    sent = [args.args[0] for args in writer.write.call_args_list]
    assert b"".join(sent) == b"x" * 150_000
    assert max(map(len, sent)) <= 64 * 1024
    assert relayed == Relayed(150_000, hashlib.sha256(b"x" * 150_000).hexdigest())
    assert writer.drain.await_count == len(sent)
