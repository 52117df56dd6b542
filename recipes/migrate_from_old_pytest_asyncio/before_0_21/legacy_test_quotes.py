"""The old tests: they lean on the session loop, and ask for ``event_loop`` and pytest-aiohttp's fixtures."""

import asyncio
from collections.abc import Callable

import pytest

from ..quote_service import QuoteClient, make_app, start_quote_server


async def price_from_a_server_of_its_own(port: int) -> float:
    runner = await start_quote_server(make_app({"PENNY": 0.01}), "127.0.0.1", port)
    try:
        async with QuoteClient(f"http://127.0.0.1:{port}") as own:
            return await own.price("PENNY")
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_shared_client_reads_a_price(client: QuoteClient) -> None:
    assert await client.price("ACME") == 12.5


@pytest.mark.asyncio
async def test_background_request_on_event_loop(event_loop: asyncio.AbstractEventLoop, unused_tcp_port: int) -> None:
    request = event_loop.create_task(price_from_a_server_of_its_own(unused_tcp_port))
    assert await request == 0.01


def test_sync_test_drives_the_loop(loop: asyncio.AbstractEventLoop, unused_tcp_port: int) -> None:
    assert loop.run_until_complete(price_from_a_server_of_its_own(unused_tcp_port)) == 0.01


@pytest.mark.asyncio
async def test_server_on_a_port_from_aiohttp(aiohttp_unused_port: Callable[[], int]) -> None:
    assert await price_from_a_server_of_its_own(aiohttp_unused_port()) == 0.01
