"""The old tests: 0.23's ``scope=`` on the asyncio mark picks the loop; a fixture's scope is its loop's scope."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio

from ..quote_service import QuoteClient, make_app, start_quote_server

pytestmark = pytest.mark.asyncio(scope="module")


@asynccontextmanager
async def serve_and_connect(prices: dict[str, float], port: int) -> AsyncIterator[QuoteClient]:
    runner = await start_quote_server(make_app(prices), "127.0.0.1", port)
    async with QuoteClient(f"http://127.0.0.1:{port}") as client:
        yield client
    await runner.cleanup()


@pytest_asyncio.fixture(scope="module")
async def client(unused_tcp_port_factory: Callable[[], int]) -> AsyncIterator[QuoteClient]:
    async with serve_and_connect({"ACME": 12.5}, unused_tcp_port_factory()) as connected:
        yield connected


async def test_module_client_reads_a_price(client: QuoteClient) -> None:
    assert await client.price("ACME") == 12.5


async def test_module_client_is_reused(client: QuoteClient) -> None:
    assert await client.prices("ACME") == {"ACME": 12.5}


@pytest.mark.asyncio(scope="class")
class TestOnAClassLoop:
    @pytest_asyncio.fixture(scope="class")
    async def penny_client(self, unused_tcp_port_factory: Callable[[], int]) -> AsyncIterator[QuoteClient]:
        async with serve_and_connect({"PENNY": 0.01}, unused_tcp_port_factory()) as connected:
            yield connected

    async def test_first(self, penny_client: QuoteClient) -> None:
        assert await penny_client.price("PENNY") == 0.01

    async def test_second_reuses_the_client(self, penny_client: QuoteClient) -> None:
        assert await penny_client.prices("PENNY") == {"PENNY": 0.01}
