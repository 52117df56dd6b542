"""LISTEN/NOTIFY mistakes, each with what the user sees: a warning, PostgreSQL's refusal, or nothing at all."""

import asyncio
import json
import re
from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.asyncio


async def test_releasing_a_connection_that_still_listens_warns(pool: asyncpg.Pool, channel: str) -> None:
    # add_listener without remove_listener: asyncpg warns, then its reset on release runs UNLISTEN *.
    def ignore(*args: object) -> None:
        pass

    with pytest.warns(asyncpg.InterfaceWarning) as warned:
        async with pool.acquire() as conn:
            await conn.add_listener(channel, ignore)

    (warning,) = warned
    assert str(warning.message).endswith(" is being released to the pool but has 1 active notification listener")
    assert str(warning.message).startswith("<asyncpg.connection.Connection object at 0x")


async def test_postgres_itself_rejects_a_payload_of_8000_bytes(pool: asyncpg.Pool, channel: str) -> None:
    async with pool.acquire() as sender:
        await sender.execute("SELECT pg_notify($1, $2)", channel, "x" * 7999)  # the largest one it takes
        with pytest.raises(asyncpg.InvalidParameterValueError) as excinfo:
            await sender.execute("SELECT pg_notify($1, $2)", channel, "x" * 8000)

    assert str(excinfo.value) == "payload string too long"


async def test_an_exception_in_a_listener_callback_reaches_no_test(pool: asyncpg.Pool, channel: str) -> None:
    # asyncpg calls listeners with loop.call_soon: what they raise goes to the loop's
    # exception handler (a log line), and whoever waits for the event waits forever.
    received: asyncio.Queue[int] = asyncio.Queue()

    def naive_receive(conn: object, pid: int, channel: str, payload: object) -> None:
        received.put_nowait(json.loads(str(payload))["order_id"])

    loop = asyncio.get_running_loop()
    reported: asyncio.Future[dict[str, Any]] = loop.create_future()
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda loop, context: reported.set_result(context))
    try:
        async with pool.acquire() as listener, pool.acquire() as sender:
            await listener.add_listener(channel, naive_receive)
            try:
                await sender.execute("SELECT pg_notify($1, $2)", channel, "{}")
                async with asyncio.timeout(2):
                    context = await reported
            finally:
                await listener.remove_listener(channel, naive_receive)
    finally:
        loop.set_exception_handler(previous_handler)

    # asyncio prints the call, "Exception in callback ...naive_receive(<PoolConnectionProxy ...>, ...)";
    # uvloop the function, "Exception in callback <function ...naive_receive at 0x...>".
    assert re.match(r"Exception in callback (<function )?\S*naive_receive", context["message"])
    assert repr(context["exception"]) == "KeyError('order_id')"
    assert received.empty()
