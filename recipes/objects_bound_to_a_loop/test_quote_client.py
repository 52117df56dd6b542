"""Loop-bound objects owned by fixtures: each is built on the loop of the tests that use it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from .quote_client import REQUEST_ID, QuoteClient, open_client

PRICES = {"ACME": 12.5, "INITECH": 3.25, "GLOBEX": 7.0, "HOOLI": 99.0}
GENEROUS = 10.0  # seconds: requests that must succeed never come near it
TINY = 0.005  # the only real wait in this file: a timeout that must run out


@pytest_asyncio.fixture
async def quotes() -> AsyncIterator[QuoteServer]:
    async with serve_quotes() as server:
        yield server


@pytest_asyncio.fixture
async def client(quotes: QuoteServer) -> AsyncIterator[QuoteClient]:
    # Built on this test's loop, closed before that loop is: its session, Semaphore and Locks meet no other.
    async with open_client(quotes.url, max_in_flight=2, request_timeout=GENEROUS) as quote_client:
        yield quote_client


@pytest.mark.asyncio
@pytest.mark.parametrize("run", ["first", "second"])
async def test_callers_asking_at_once_share_one_request(client: QuoteClient, quotes: QuoteServer, run: str) -> None:
    # Two runs on two loops, callers waiting on the symbol's Lock in both: an import-time Lock fails the second.
    prices = await asyncio.gather(*(client.price("ACME") for _ in range(3)))

    assert prices == [12.5, 12.5, 12.5]
    assert quotes.requests == [("ACME", "-")]  # one request; no request id was set


@pytest.mark.asyncio
async def test_no_more_than_max_in_flight_requests_reach_the_server_at_once(
    client: QuoteClient, quotes: QuoteServer
) -> None:
    quotes.hold_until = 2  # the server answers nothing until two requests are in
    async with asyncio.timeout(GENEROUS):  # with a limit under two this would hang
        prices = await asyncio.gather(*(client.price(symbol) for symbol in PRICES))

    assert prices == list(PRICES.values())
    assert quotes.peak == 2  # the other two waited on the client's Semaphore


@pytest_asyncio.fixture
async def request_id() -> str:
    # Set in an async fixture: pytest-asyncio copies the change into the test's context.
    REQUEST_ID.set("req-42")
    return "req-42"


@pytest.mark.asyncio
async def test_a_request_id_set_in_an_async_fixture_reaches_the_test_and_the_server(
    request_id: str, client: QuoteClient, quotes: QuoteServer
) -> None:
    assert REQUEST_ID.get() == request_id
    await asyncio.gather(client.price("ACME"), client.price("HOOLI"))  # tasks copy the context

    assert sorted(quotes.requests) == [("ACME", "req-42"), ("HOOLI", "req-42")]


@pytest.mark.asyncio
async def test_a_failed_request_is_not_remembered(client: QuoteClient, quotes: QuoteServer) -> None:
    for _ in range(2):
        with pytest.raises(aiohttp.ClientResponseError) as excinfo:
            await client.price("DOWN")
        assert excinfo.value.status == 503
    assert quotes.requests == [("DOWN", "-"), ("DOWN", "-")]  # the second caller asked again


@pytest.mark.asyncio
async def test_a_request_past_the_timeout_raises_timeout_error(quotes: QuoteServer) -> None:
    quotes.hold_until = 99  # never answers
    async with open_client(quotes.url, max_in_flight=2, request_timeout=TINY) as slow_client:
        async with asyncio.timeout(GENEROUS):  # without the client's own timeout this would hang
            with pytest.raises(TimeoutError):
                await slow_client.price("ACME")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_quotes() -> AsyncIterator[QuoteServer]:
    # One server and one client for the whole module: they live on the module's loop, so do its tests.
    async with serve_quotes() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_client(shared_quotes: QuoteServer) -> AsyncIterator[QuoteClient]:
    async with open_client(shared_quotes.url, max_in_flight=2, request_timeout=GENEROUS) as quote_client:
        yield quote_client


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("run", ["first", "second"])
async def test_a_module_scoped_client_serves_every_test_on_the_module_loop(
    shared_client: QuoteClient, shared_quotes: QuoteServer, run: str
) -> None:
    prices = await asyncio.gather(*(shared_client.price(symbol) for symbol in PRICES))

    assert prices == list(PRICES.values())
    assert sorted(symbol for symbol, _ in shared_quotes.requests) == sorted(PRICES)  # once per module


class QuoteServer:
    """A stand-in for the price API: records each request, and can hold requests back."""

    url: str  # set by serve_quotes once the server listens

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (symbol, X-Request-ID)
        self.hold_until = 0  # answer once this many requests are in flight
        self.in_flight = self.peak = 0
        self.gate = asyncio.Event()  # made here, on the loop of the fixture that owns the server

    async def quote(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        self.requests.append((symbol, request.headers["X-Request-ID"]))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self.in_flight >= self.hold_until:
            self.gate.set()
        await self.gate.wait()
        self.in_flight -= 1
        if symbol not in PRICES:
            return web.json_response({"error": "maintenance"}, status=503)
        return web.json_response({"price": PRICES[symbol]})


@asynccontextmanager
async def serve_quotes() -> AsyncIterator[QuoteServer]:
    quote_server, app = QuoteServer(), web.Application()
    app.router.add_get("/quotes/{symbol}", quote_server.quote)
    async with TestServer(app) as server:
        quote_server.url = str(server.make_url("/"))
        try:
            yield quote_server
        finally:
            quote_server.gate.set()  # let held requests finish before the server closes
