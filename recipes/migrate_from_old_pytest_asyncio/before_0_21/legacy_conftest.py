"""The old conftest.py: one event loop for the whole session, by overriding ``event_loop``."""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import pytest_asyncio

from ..quote_service import QuoteClient, make_app, start_quote_server

PRICES = {"ACME": 12.5, "INITECH": 3.25}


@pytest.fixture(scope="session")
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest_asyncio.fixture(scope="session")
async def quote_server(unused_tcp_port_factory: Callable[[], int]) -> AsyncIterator[str]:
    port = unused_tcp_port_factory()
    runner = await start_quote_server(make_app(PRICES), "127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest_asyncio.fixture(scope="session")
async def client(quote_server: str) -> AsyncIterator[QuoteClient]:
    async with QuoteClient(quote_server) as shared:
        yield shared
