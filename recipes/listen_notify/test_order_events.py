"""LISTEN/NOTIFY tested on real connections: committed marker events instead of sleeps, every wait bounded."""

import asyncio

import asyncpg
import pytest

from .order_events import OrderEvent, Subscription, publish

pytestmark = pytest.mark.asyncio


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

        # Delivery is in commit order: had the first event leaked, it would come before the marker.
        assert await next_event(subscription) == OrderEvent(2, "marker")
        assert subscription.pending == 0


# Variations: closing a subscription, payloads from other writers.


async def test_a_closed_subscription_stops_receiving(pool: asyncpg.Pool, channel: str) -> None:
    async with pool.acquire() as listener, pool.acquire() as sender:
        async with Subscription(listener, channel) as closed:
            pass
        async with Subscription(listener, channel) as still_open:
            await publish(sender, channel, OrderEvent(7, "shipped"))
            assert await next_event(still_open) == OrderEvent(7, "shipped")

        assert closed.pending == 0  # its callback was removed before the event was sent


@pytest.mark.parametrize("payload", ["not json", "[]", '{"order_id": 7}'])
async def test_malformed_payloads_are_set_aside_and_delivery_goes_on(
    pool: asyncpg.Pool, channel: str, payload: str
) -> None:
    async with pool.acquire() as listener, pool.acquire() as sender, Subscription(listener, channel) as subscription:
        await sender.execute("SELECT pg_notify($1, $2)", channel, payload)  # another writer's NOTIFY
        await publish(sender, channel, OrderEvent(8, "paid"))

        assert await next_event(subscription) == OrderEvent(8, "paid")
        assert subscription.rejected == [payload]
