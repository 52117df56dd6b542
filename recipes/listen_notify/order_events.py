"""Order events over PostgreSQL LISTEN/NOTIFY, with asyncpg.

``publish`` sends an event on a channel; a ``Subscription`` (an async context
manager) receives them on a connection of its own. PostgreSQL delivers a
notification only when the transaction that sent it commits.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Self, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True)
class OrderEvent:
    order_id: int
    status: str


async def publish(conn: Connection, channel: str, event: OrderEvent) -> None:
    """Send ``event``; listeners get it when the current transaction commits."""
    payload = json.dumps({"order_id": event.order_id, "status": event.status})
    await conn.execute("SELECT pg_notify($1, $2)", channel, payload)


class Subscription:
    """Listens on one channel while open; payloads that are not order events are kept aside."""

    def __init__(self, conn: Connection, channel: str) -> None:
        self._conn = conn
        self._channel = channel
        self._events: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self.rejected: list[object] = []

    async def __aenter__(self) -> Self:
        await self._conn.add_listener(self._channel, self._receive)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # A pooled connection released with a listener still attached warns, and the
        # pool's reset on release drops it (UNLISTEN *): remove it ourselves, first.
        await self._conn.remove_listener(self._channel, self._receive)

    def _receive(self, conn: object, pid: int, channel: str, payload: object) -> None:
        # asyncpg runs this with loop.call_soon: an exception raised here would
        # only reach the loop's exception handler, and next_event would wait forever.
        try:
            data = json.loads(str(payload))
            event = OrderEvent(order_id=data["order_id"], status=data["status"])
        except (ValueError, KeyError, TypeError):
            self.rejected.append(payload)
        else:
            self._events.put_nowait(event)

    async def next_event(self) -> OrderEvent:
        return await self._events.get()

    @property
    def pending(self) -> int:
        return self._events.qsize()
