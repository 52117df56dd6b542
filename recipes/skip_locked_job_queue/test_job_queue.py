"""Concurrent workers on a real PostgreSQL queue: every job done exactly once."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from .job_queue import Connection, JobQueue, LeaseLostError, work

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def pool(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    db_pool = await asyncpg.create_pool(postgres_dsn, min_size=0, max_size=5)
    try:
        yield db_pool
    finally:
        await db_pool.close()


@pytest_asyncio.fixture
async def queue(pool: asyncpg.Pool) -> AsyncIterator[JobQueue]:
    # Workers must commit for others to see their claims, so there is no rollback
    # here: each test gets a table of its own and drops it afterwards.
    job_queue = JobQueue(f"jobs_{uuid.uuid4().hex[:12]}")
    async with pool.acquire() as conn:
        await job_queue.create(conn)
    try:
        yield job_queue
    finally:
        async with pool.acquire() as conn:
            await job_queue.drop(conn)


async def expire_leases(conn: Connection, queue: JobQueue) -> None:
    """Stand-in for time passing: every lease is now in the past."""
    await conn.execute(f"UPDATE {queue.table} SET locked_until = now() - interval '1 second'")


async def test_a_claimed_job_carries_its_payload(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as conn:
        job_id = await queue.enqueue(conn, {"email": "ada@example.org", "n": [1, 2]})

        job = await queue.claim(conn)

        assert job is not None
        # Without max_attempts, a job gets three tries.
        assert (job.id, job.payload, job.attempts, job.max_attempts) == (
            job_id,
            {"email": "ada@example.org", "n": [1, 2]},
            1,
            3,
        )
        assert await queue.counts(conn) == {"running": 1}


async def test_an_empty_queue_has_nothing_to_claim(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as conn:
        assert await queue.claim(conn) is None


async def test_jobs_are_claimed_oldest_first(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as conn:
        ids = [await queue.enqueue(conn, {"n": n}) for n in range(3)]

        claimed = [await queue.claim(conn) for _ in ids]

        assert [job.id for job in claimed if job] == ids


async def test_a_locked_row_is_skipped_not_waited_for(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as holder, pool.acquire() as worker:
        first = await queue.enqueue(holder, {"n": 1})
        second = await queue.enqueue(holder, {"n": 2})
        async with holder.transaction():
            await holder.execute(f"SELECT * FROM {queue.table} WHERE id = $1 FOR UPDATE", first)

            async with asyncio.timeout(2):  # without SKIP LOCKED this claim would block here
                job = await queue.claim(worker)

        assert job is not None
        assert job.id == second


async def test_without_skip_locked_a_worker_waits_behind_the_lock(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as holder, pool.acquire() as worker:
        first = await queue.enqueue(holder, {"n": 1})
        await queue.enqueue(holder, {"n": 2})
        await worker.execute("SET lock_timeout = '20ms'")  # the server gives up waiting, not a test sleep
        async with holder.transaction():
            await holder.execute(f"SELECT * FROM {queue.table} WHERE id = $1 FOR UPDATE", first)

            with pytest.raises(asyncpg.LockNotAvailableError, match="canceling statement due to lock timeout"):
                await worker.fetchval(f"SELECT id FROM {queue.table} ORDER BY id LIMIT 1 FOR UPDATE")


async def test_concurrent_workers_do_every_job_exactly_once(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as conn:
        ids = [await queue.enqueue(conn, {"job": n}) for n in range(40)]
    handled: list[int] = []

    async def handler(payload: dict[str, Any]) -> None:
        handled.append(payload["job"])
        await asyncio.sleep(0)  # yield, so the workers interleave

    async def worker() -> int:
        async with pool.acquire() as conn:
            return await work(queue, conn, handler)

    async with asyncio.timeout(10), asyncio.TaskGroup() as group:
        workers = [group.create_task(worker()) for _ in range(4)]

    assert sorted(handled) == list(range(40))  # none lost, none twice
    assert sum(task.result() for task in workers) == len(ids)
    async with pool.acquire() as conn:
        assert await queue.counts(conn) == {"done": 40}
        assert await conn.fetchval(f"SELECT max(attempts) FROM {queue.table}") == 1


@pytest.mark.parametrize(("options", "expected"), [({}, 30.0), ({"lease_seconds": 0.5}, 0.5)])
async def test_a_claim_holds_the_job_for_lease_seconds_30_by_default(
    pool: asyncpg.Pool, queue: JobQueue, options: dict[str, float], expected: float
) -> None:
    async with pool.acquire() as conn:
        await queue.enqueue(conn, {"n": 1})
        assert await queue.claim(conn, **options) is not None

        left = await conn.fetchval(f"SELECT extract(epoch FROM locked_until - now())::float8 FROM {queue.table}")
        assert expected - 1 < left <= expected


async def test_a_crashed_workers_job_is_claimed_again_once_its_lease_expires(
    pool: asyncpg.Pool, queue: JobQueue
) -> None:
    async with pool.acquire() as conn:
        job_id = await queue.enqueue(conn, {"n": 1})
        crashed = await queue.claim(conn)  # ...and never completed
        assert crashed is not None

        assert await queue.claim(conn) is None  # the lease still holds
        await expire_leases(conn, queue)
        retried = await queue.claim(conn)

        assert retried is not None
        assert (retried.id, retried.attempts) == (job_id, 2)


async def test_a_worker_that_lost_its_lease_cannot_complete_the_job(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as conn:
        await queue.enqueue(conn, {"n": 1})
        slow = await queue.claim(conn)
        await expire_leases(conn, queue)
        fast = await queue.claim(conn)
        assert slow is not None
        assert fast is not None

        with pytest.raises(LeaseLostError, match=rf"job {slow.id} \(attempt 1\) is no longer held"):
            await queue.complete(conn, slow)
        await queue.complete(conn, fast)

        assert await queue.counts(conn) == {"done": 1}


async def test_a_poison_job_stops_after_max_attempts_and_the_rest_get_done(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as conn:
        poison = await queue.enqueue(conn, {"kind": "poison"}, max_attempts=3)
        for n in range(3):
            await queue.enqueue(conn, {"kind": "fine", "n": n})

        async def handler(payload: dict[str, Any]) -> None:
            if payload["kind"] == "poison":
                raise ValueError("cannot parse this one")

        async with asyncio.timeout(5):
            handled = await work(queue, conn, handler)

        assert handled == 3 + 3  # three fine jobs, three tries of the poison one
        assert await queue.counts(conn) == {"done": 3, "failed": 1}
        row = await conn.fetchrow(f"SELECT attempts, last_error FROM {queue.table} WHERE id = $1", poison)
        assert row is not None
        assert dict(row) == {"attempts": 3, "last_error": "ValueError: cannot parse this one"}


async def test_a_failed_job_with_attempts_left_is_queued_again(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as conn:
        await queue.enqueue(conn, {"n": 1}, max_attempts=2)
        job = await queue.claim(conn)
        assert job is not None

        assert await queue.fail(conn, job, "timeout") == "queued"
        again = await queue.claim(conn)
        assert again is not None
        assert await queue.fail(conn, again, "timeout") == "failed"
        assert await queue.claim(conn) is None


async def test_a_job_allowed_a_single_attempt_fails_on_its_first_error(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as conn:
        await queue.enqueue(conn, {"n": 1}, max_attempts=1)
        job = await queue.claim(conn)
        assert job is not None

        assert await queue.fail(conn, job, "boom") == "failed"
        assert await queue.claim(conn) is None


async def test_the_table_is_named_as_given_and_defaults_to_jobs(pool: asyncpg.Pool) -> None:
    assert JobQueue().table == "jobs"
    name = f"jobs_{uuid.uuid4().hex[:12]}"
    queue = JobQueue(name)
    async with pool.acquire() as conn:
        await queue.create(conn)
        try:
            assert await conn.fetchval("SELECT to_regclass($1)::text", name) == name
        finally:
            await queue.drop(conn)
        assert await conn.fetchval("SELECT to_regclass($1)::text", name) is None


@pytest.mark.parametrize("table", ["", "Jobs", "jobs; DROP TABLE users", "1jobs", "j" * 64])
async def test_an_unsafe_table_name_is_refused(table: str) -> None:
    with pytest.raises(ValueError, match="invalid table name"):
        JobQueue(table)


async def test_bad_arguments_are_refused(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(ValueError, match="max_attempts must be at least 1"):
            await queue.enqueue(conn, {"n": 1}, max_attempts=0)
        with pytest.raises(ValueError, match="not JSON-serialisable"):
            await queue.enqueue(conn, {"when": object()})
        with pytest.raises(ValueError, match="lease_seconds must be positive"):
            await queue.claim(conn, lease_seconds=0)
        assert await queue.counts(conn) == {}
