"""pytest-asyncio 1.x spellings of the old session loop, class loop, ``event_loop`` and ``loop``.

The old code each test replaces is in before_0_21/ and before_0_23/; test_pitfalls.py runs it here.
"""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from .quote_service import QuoteClient, UnknownSymbol, make_app, start_quote_server

PRICES = {"ACME": 12.5, "INITECH": 3.25}

# Was: a session-scoped `event_loop` override in conftest.py. Now each test says which loop it runs on.
pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def quote_server() -> AsyncIterator[str]:
    runner = await start_quote_server(make_app(PRICES), "127.0.0.1", 0)  # port 0: the OS picks a free one
    host, port = runner.addresses[0][:2]
    assert host == "127.0.0.1"  # loopback only
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest_asyncio.fixture(scope="session", loop_scope="session")  # scope: built once; loop_scope: on which loop
async def client(quote_server: str) -> AsyncIterator[QuoteClient]:
    async with QuoteClient(quote_server) as shared:
        yield shared


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def session_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()  # was: asking for the `event_loop` fixture


async def test_the_shared_client_reads_prices(client: QuoteClient) -> None:
    assert await client.price("ACME") == 12.5
    assert await client.prices("ACME", "INITECH") == {"ACME": 12.5, "INITECH": 3.25}


async def test_background_work_uses_the_running_loop(client: QuoteClient) -> None:
    request = asyncio.create_task(client.price("INITECH"))  # was: event_loop.create_task(...)
    assert await request == 3.25


async def test_an_unknown_symbol_is_an_error_and_the_client_still_works(client: QuoteClient) -> None:
    with pytest.raises(UnknownSymbol, match=r"^NOPE$"):
        await client.price("NOPE")
    assert await client.price("ACME") == 12.5


async def test_fixtures_and_tests_share_the_session_loop(session_loop: asyncio.AbstractEventLoop) -> None:
    assert asyncio.get_running_loop() is session_loop


@pytest_asyncio.fixture(loop_scope="session")  # a new client for each test, on the loop the tests run on
async def fresh_client(quote_server: str) -> AsyncIterator[QuoteClient]:
    async with QuoteClient(quote_server) as fresh:
        yield fresh


async def test_a_per_test_fixture_on_the_session_loop(fresh_client: QuoteClient, client: QuoteClient) -> None:
    assert fresh_client is not client
    assert await fresh_client.price("INITECH") == 3.25


async def test_a_server_told_its_port_in_advance(unused_tcp_port: int) -> None:
    # was: aiohttp_unused_port() from pytest-aiohttp < 1.1, often in a sync test driving `loop`
    runner = await start_quote_server(make_app({"PENNY": 0.01}), "127.0.0.1", unused_tcp_port)
    try:
        async with QuoteClient(f"http://127.0.0.1:{unused_tcp_port}") as own:
            assert await own.price("PENNY") == 0.01
    finally:
        await runner.cleanup()


@pytest.mark.asyncio(loop_scope="class")  # was: @pytest.mark.asyncio(scope="class") in 0.23
class TestOnAClassLoop:
    @pytest_asyncio.fixture(scope="class", loop_scope="class")
    @classmethod  # pytest 9 deprecates class-scoped fixtures that are instance methods
    async def penny_client(cls, unused_tcp_port_factory: Callable[[], int]) -> AsyncIterator[QuoteClient]:
        port = unused_tcp_port_factory()
        runner = await start_quote_server(make_app({"PENNY": 0.01}), "127.0.0.1", port)
        async with QuoteClient(f"http://127.0.0.1:{port}") as penny:
            yield penny
        await runner.cleanup()

    async def test_the_class_client_reads_a_price(self, penny_client: QuoteClient) -> None:
        assert await penny_client.price("PENNY") == 0.01

    async def test_the_class_has_a_loop_of_its_own(
        self, penny_client: QuoteClient, session_loop: asyncio.AbstractEventLoop
    ) -> None:
        assert asyncio.get_running_loop() is not session_loop
        assert await penny_client.prices("PENNY") == {"PENNY": 0.01}
