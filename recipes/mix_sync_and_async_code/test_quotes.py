"""Test each side of a sync facade over an async core the way its callers use it."""

import asyncio
import contextlib
import socketserver
import threading
import unittest
from collections.abc import Iterator
from decimal import Decimal

import pytest

from .quotes import QuoteClient, QuoteError

PRICES = {"EURUSD": "1.0842", "GBPUSD": "1.2710"}


@pytest.fixture
def client() -> Iterator[QuoteClient]:
    # The fake service runs in a thread, not on a test's loop: sync tests reach it too.
    with serving_quotes() as (host, port):
        yield QuoteClient(host, port)


@pytest.mark.asyncio
async def test_async_code_awaits_the_async_core(client: QuoteClient) -> None:
    assert await client.fetch("EURUSD") == Decimal("1.0842")


def test_sync_code_calls_the_facade_from_a_plain_sync_test(client: QuoteClient) -> None:
    # No asyncio mark: pytest runs a sync test with no loop, as a script would call it.
    assert client.fetch_sync("GBPUSD") == Decimal("1.2710")


@pytest.mark.asyncio
async def test_async_code_that_must_use_the_facade_runs_it_in_a_thread(client: QuoteClient) -> None:
    # The worker thread has no running loop, so the facade runs one there; this loop stays free.
    assert await asyncio.to_thread(client.fetch_sync, "EURUSD") == Decimal("1.0842")


@pytest.mark.asyncio
async def test_the_facade_refuses_to_block_a_running_loop(client: QuoteClient) -> None:
    with pytest.raises(RuntimeError, match=r"^fetch_sync\(\) would block the running event loop: await fetch"):
        client.fetch_sync("EURUSD")  # refused before any coroutine exists: nothing is left un-awaited


@pytest.mark.asyncio
async def test_an_unknown_symbol_is_a_quote_error(client: QuoteClient) -> None:
    with pytest.raises(QuoteError) as excinfo:
        await client.fetch("XAUUSD")

    assert str(excinfo.value) == "no price for XAUUSD: unknown symbol"


def test_errors_cross_the_facade_unchanged(client: QuoteClient) -> None:
    with pytest.raises(QuoteError, match=r"^no price for HANGUP: the service hung up$"):
        client.fetch_sync("HANGUP")


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    # For sync code that must drive async steps itself: a loop of its own, closed at teardown.
    # Unlike `asyncio.get_event_loop()`, it works on every Python and after any other test.
    with asyncio.Runner() as runner:
        yield runner


def test_a_sync_test_drives_the_async_core_on_a_runner(runner: asyncio.Runner, client: QuoteClient) -> None:
    prices = [runner.run(client.fetch(symbol)) for symbol in PRICES]  # one loop for every step

    assert prices == [Decimal("1.0842"), Decimal("1.2710")]
    assert not runner.get_loop().is_running()  # between steps nothing runs: the facade may run here too
    assert client.fetch_sync("EURUSD") == Decimal("1.0842")


class TestQuotesWithUnittest(unittest.IsolatedAsyncioTestCase):
    """unittest's own async test case: each async method runs on a new loop; pytest runs it unchanged."""

    def setUp(self) -> None:
        self.client = QuoteClient(*self.enterContext(serving_quotes()))

    async def test_an_async_method_awaits_the_core(self) -> None:
        assert await self.client.fetch("EURUSD") == Decimal("1.0842")

    def test_a_sync_method_calls_the_facade(self) -> None:
        assert self.client.fetch_sync("GBPUSD") == Decimal("1.2710")


class FakeQuoteService(socketserver.StreamRequestHandler):
    """One request per connection: a price from PRICES, an error, or (for HANGUP) no answer at all."""

    def handle(self) -> None:
        _, _, symbol = self.rfile.readline().decode().strip().partition(" ")
        if symbol in PRICES:
            self.wfile.write(f"OK {PRICES[symbol]}\n".encode())
        elif symbol != "HANGUP":
            self.wfile.write(b"ERR unknown symbol\n")


@contextlib.contextmanager
def serving_quotes() -> Iterator[tuple[str, int]]:
    """The fake service on loopback, served by a thread: it needs no event loop, so any test can use it."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), FakeQuoteService) as server:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
        thread.start()
        try:
            yield server.socket.getsockname()
        finally:
            server.shutdown()
            thread.join()
