"""LISTEN/NOTIFY tested on two real connections, with every wait bounded."""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from .order_events import MAX_PAYLOAD_BYTES, OrderEvent, Subscription, publish

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def pool(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    # Notifications need committed transactions, so these connections are not
    # wrapped in a rolled-back test transaction; the channel name isolates tests.
    db_pool = await asyncpg.create_pool(postgres_dsn, min_size=0, max_size=3)
    try:
        yield db_pool
    finally:
        await db_pool.close()


@pytest.fixture
def channel() -> str:
    return f"orders_{uuid.uuid4().hex[:12]}"


async def next_event(subscription: Subscription) -> OrderEvent:
    async with asyncio.timeout(2):  # a lost notification fails fast instead of hanging
        return await subscription.next_event()


async def test_a_published_event_arrives_with_its_payload(pool: asyncpg.Pool, channel: str) -> None:
    async with pool.acquire() as listener, pool.acquire() as sender, Subscription(listener, channel) as subscription:
        await publish(sender, channel, OrderEvent(order_id=42, status="paid"))

        assert await next_event(subscription) == OrderEvent(order_id=42, status="paid")


async def test_an_event_is_delivered_only_when_its_transaction_commits(pool: asyncpg.Pool, channel: str) -> None:
    async with (
        pool.acquire() as listener,
        pool.acquire() as sender,
        pool.acquire() as other,
        Subscription(listener, channel) as subscription,
    ):
        transaction = sender.transaction()
        await transaction.start()
        await publish(sender, channel, OrderEvent(1, "created"))
        # A marker committed later arrives first: the open transaction's event is held back.
        await publish(other, channel, OrderEvent(2, "marker"))
        assert await next_event(subscription) == OrderEvent(2, "marker")
        assert subscription.pending == 0

        await transaction.commit()

        assert await next_event(subscription) == OrderEvent(1, "created")


async def test_rolled_back_events_are_never_delivered(pool: asyncpg.Pool, channel: str) -> None:
    async with pool.acquire() as listener, pool.acquire() as sender, Subscription(listener, channel) as subscription:
        with pytest.raises(asyncpg.DivisionByZeroError):
            async with sender.transaction():
                await publish(sender, channel, OrderEvent(1, "cancelled"))
                await sender.execute("SELECT 1 / 0")
        await publish(sender, channel, OrderEvent(2, "marker"))

        # Delivery is in commit order, so the marker would come second if the first event had leaked.
        assert await next_event(subscription) == OrderEvent(2, "marker")
        assert subscription.pending == 0


async def test_a_closed_subscription_stops_receiving(pool: asyncpg.Pool, channel: str) -> None:
    async with pool.acquire() as listener, pool.acquire() as sender:
        async with Subscription(listener, channel) as closed:
            pass
        async with Subscription(listener, channel) as still_open:
            await publish(sender, channel, OrderEvent(7, "shipped"))
            assert await next_event(still_open) == OrderEvent(7, "shipped")

        assert closed.pending == 0  # its callback was removed before the event was sent


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        '{"order_id": 7}',
        '{"order_id": "7", "status": "paid"}',
        '{"order_id": true, "status": "paid"}',
        '{"order_id": 7, "status": ""}',
        "not json " + "x" * 100,
        '{"order_id": 7, "status": "", "note": "' + "x" * 100 + '"}',
    ],
)
async def test_malformed_payloads_are_set_aside_and_delivery_goes_on(
    pool: asyncpg.Pool, channel: str, payload: str
) -> None:
    async with pool.acquire() as listener, pool.acquire() as sender, Subscription(listener, channel) as subscription:
        await sender.execute("SELECT pg_notify($1, $2)", channel, payload)
        await publish(sender, channel, OrderEvent(8, "paid"))

        assert await next_event(subscription) == OrderEvent(8, "paid")
        assert subscription.rejected == [payload]
    # Parsed directly, the error quotes the payload's first 80 characters.
    message = f"not an order event: {payload[:80]!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        OrderEvent.from_payload(payload)


@pytest.mark.parametrize("bad_channel", ["", "Orders", "orders; DROP TABLE x", "x" * 64, "9lives"])
async def test_invalid_channel_names_are_refused(pool: asyncpg.Pool, bad_channel: str) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(ValueError, match="invalid channel"):
            await publish(conn, bad_channel, OrderEvent(1, "paid"))
        with pytest.raises(ValueError, match="invalid channel"):
            Subscription(conn, bad_channel)


async def test_the_largest_event_postgres_accepts_is_delivered(pool: asyncpg.Pool, channel: str) -> None:
    empty = len(OrderEvent(1, "").to_payload())
    largest = OrderEvent(1, "s" * (MAX_PAYLOAD_BYTES - empty))
    async with pool.acquire() as listener, pool.acquire() as sender, Subscription(listener, channel) as subscription:
        await publish(sender, channel, largest)

        assert await next_event(subscription) == largest


async def test_an_oversized_event_is_refused_before_sending(pool: asyncpg.Pool, channel: str) -> None:
    empty = len(OrderEvent(1, "").to_payload())
    async with pool.acquire() as sender:
        with pytest.raises(ValueError, match=f"event too large for NOTIFY: 8000 bytes, limit {MAX_PAYLOAD_BYTES}"):
            await publish(sender, channel, OrderEvent(1, "s" * (MAX_PAYLOAD_BYTES + 1 - empty)))


async def test_releasing_a_connection_that_still_listens_warns(pool: asyncpg.Pool, channel: str) -> None:
    # The pitfall a Subscription avoids: add_listener without remove_listener.
    def ignore(*args: object) -> None:
        pass

    with pytest.warns(asyncpg.InterfaceWarning, match="is being released to the pool but has 1 active notification"):
        async with pool.acquire() as conn:
            await conn.add_listener(channel, ignore)


async def test_postgres_itself_rejects_a_payload_of_8000_bytes(pool: asyncpg.Pool, channel: str) -> None:
    async with pool.acquire() as sender:
        with pytest.raises(asyncpg.InvalidParameterValueError, match="payload string too long"):
            await sender.execute("SELECT pg_notify($1, $2)", channel, "x" * 8000)
