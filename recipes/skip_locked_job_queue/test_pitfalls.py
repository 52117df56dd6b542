"""What goes wrong without SKIP LOCKED, and when a queue is tested inside a rolled-back transaction."""

import asyncpg
import pytest

from .job_queue import JobQueue

pytestmark = pytest.mark.asyncio


async def test_without_skip_locked_a_worker_waits_behind_the_lock(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as holder, pool.acquire() as worker:
        first = await queue.enqueue(holder, {"n": 1})
        await queue.enqueue(holder, {"n": 2})  # free, yet a plain FOR UPDATE never gets to it
        await worker.execute("SET lock_timeout = '20ms'")  # the server gives up waiting, not a test sleep
        async with holder.transaction():
            await holder.execute(f"SELECT * FROM {queue.table} WHERE id = $1 FOR UPDATE", first)

            with pytest.raises(asyncpg.LockNotAvailableError) as excinfo:
                await worker.fetchval(f"SELECT id FROM {queue.table} ORDER BY id LIMIT 1 FOR UPDATE")

    assert str(excinfo.value) == "canceling statement due to lock timeout"


async def test_a_job_enqueued_in_a_rolled_back_test_transaction_is_invisible_to_workers(
    pool: asyncpg.Pool, queue: JobQueue
) -> None:
    # Per-test rollback hides exactly what a queue test must show: the other workers see nothing.
    async with pool.acquire() as test_conn, pool.acquire() as worker:
        transaction = test_conn.transaction()
        await transaction.start()
        await queue.enqueue(test_conn, {"n": 1})

        assert await queue.claim(worker) is None

        await transaction.rollback()
