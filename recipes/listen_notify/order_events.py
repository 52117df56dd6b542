"""Typed order events over PostgreSQL LISTEN/NOTIFY, with asyncpg.

``publish`` sends an event on a channel; a ``Subscription`` (an async context
manager) receives them on a connection of its own. PostgreSQL delivers a
notification only when the transaction that sent it commits.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Self, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy

CHANNEL_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}")
MAX_PAYLOAD_BYTES = 7999  # PostgreSQL refuses payloads of 8000 bytes or more


@dataclass(frozen=True)
class OrderEvent:
    order_id: int
    status: str

    def to_payload(self) -> str:
        return json.dumps({"order_id": self.order_id, "status": self.status})

    @classmethod
    def from_payload(cls, payload: str) -> OrderEvent:
        try:
            data = json.loads(payload)
            event = cls(order_id=data["order_id"], status=data["status"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not an order event: {payload[:80]!r}") from exc
        if type(event.order_id) is not int or not isinstance(event.status, str) or not event.status:
            raise ValueError(f"not an order event: {payload[:80]!r}")
        return event


def check_channel(channel: str) -> None:
    if not CHANNEL_PATTERN.fullmatch(channel):
        raise ValueError(f"invalid channel {channel!r}: use 1-63 lower-case letters, digits and underscores")


async def publish(conn: Connection, channel: str, event: OrderEvent) -> None:
    """Send ``event``; listeners get it when the current transaction commits."""
    check_channel(channel)
    payload = event.to_payload()
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"event too large for NOTIFY: {len(payload.encode())} bytes, limit {MAX_PAYLOAD_BYTES}")
    await conn.execute("SELECT pg_notify($1, $2)", channel, payload)


class Subscription:
    """Listens on one channel while open; malformed payloads are kept aside, not raised."""

    def __init__(self, conn: Connection, channel: str) -> None:
        check_channel(channel)
        self._conn = conn
        self._channel = channel
        self._events: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self.rejected: list[str] = []

    async def __aenter__(self) -> Self:
        await self._conn.add_listener(self._channel, self._receive)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # A pooled connection released with a listener still attached warns, and
        # would deliver this channel to whoever borrows the connection next.
        await self._conn.remove_listener(self._channel, self._receive)

    def _receive(self, conn: object, pid: int, channel: str, payload: object) -> None:
        try:
            self._events.put_nowait(OrderEvent.from_payload(str(payload)))
        except ValueError:
            self.rejected.append(str(payload))

    async def next_event(self) -> OrderEvent:
        return await self._events.get()

    @property
    def pending(self) -> int:
        return self._events.qsize()
