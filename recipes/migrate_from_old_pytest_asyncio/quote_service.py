"""A price-quote service and the client that reads it: the async unit the migration recipe tests.

``start_quote_server(app, host, port)`` serves ``GET /quotes/{symbol}`` on a port the caller
chooses, as a service configured from its environment does. ``QuoteClient`` keeps one
``aiohttp.ClientSession`` for many requests: a connection pool that belongs to the event loop
it was opened on, which is what makes a shared client a question of event loop scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType

import aiohttp
from aiohttp import web

PRICES = web.AppKey("prices", dict[str, float])


class UnknownSymbol(LookupError):
    """The service has no price for this symbol (it answered 404)."""


def make_app(prices: Mapping[str, float]) -> web.Application:
    app = web.Application()
    app[PRICES] = dict(prices)
    app.router.add_get("/quotes/{symbol}", _quote)
    return app


async def _quote(request: web.Request) -> web.Response:
    symbol = request.match_info["symbol"]
    if symbol not in request.app[PRICES]:
        raise web.HTTPNotFound()
    return web.json_response({"price": request.app[PRICES][symbol]})


async def start_quote_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on ``host:port``; stop it with ``await runner.cleanup()``."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


class QuoteClient:
    """``async with QuoteClient(base_url) as client: await client.price("ACME")``."""

    _session: aiohttp.ClientSession  # opened by `async with`, on the loop that runs it

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def __aenter__(self) -> QuoteClient:
        self._session = aiohttp.ClientSession(self.base_url)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._session.close()

    async def price(self, symbol: str) -> float:
        async with self._session.get(f"/quotes/{symbol}") as response:
            if response.status == 404:
                raise UnknownSymbol(symbol)
            response.raise_for_status()
            body = await response.json()
        return float(body["price"])

    async def prices(self, *symbols: str) -> dict[str, float]:
        """All the prices at once: the requests are in flight together."""
        async with asyncio.TaskGroup() as group:
            tasks = {symbol: group.create_task(self.price(symbol)) for symbol in symbols}
        return {symbol: task.result() for symbol, task in tasks.items()}
