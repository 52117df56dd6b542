"""Concurrent workers on a real PostgreSQL queue: every job done exactly once, nobody waits on a lock."""

import asyncio
from typing import Any

import asyncpg
import pytest

from .job_queue import Job, JobQueue, LeaseLostError, work

pytestmark = pytest.mark.asyncio


async def test_concurrent_workers_do_every_job_exactly_once(pool: asyncpg.Pool, queue: JobQueue) -> None:
    for n in range(40):
        await queue.enqueue(pool, {"job": n})
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
    assert sum(task.result() for task in workers) == 40
    assert await counts(pool, queue) == {"done": 40}
    assert await pool.fetchval(f"SELECT max(attempts) FROM {queue.table}") == 1


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


async def test_a_crashed_workers_job_is_claimed_again_after_its_lease(pool: asyncpg.Pool, queue: JobQueue) -> None:
    job_id = await queue.enqueue(pool, {"n": 1})
    assert await queue.claim(pool) is not None  # ...and never finished: the worker crashed

    assert await queue.claim(pool) is None  # the lease still holds
    await expire_leases(pool, queue)
    retried = await queue.claim(pool)

    assert retried is not None
    assert (retried.id, retried.attempts) == (job_id, 2)


async def expire_leases(pool: asyncpg.Pool, queue: JobQueue) -> None:
    """Stand-in for time passing: every lease is now in the past."""
    await pool.execute(f"UPDATE {queue.table} SET locked_until = now() - interval '1 second'")


async def counts(pool: asyncpg.Pool, queue: JobQueue) -> dict[str, int]:
    rows = await pool.fetch(f"SELECT status, count(*) AS n FROM {queue.table} GROUP BY status")
    return {row["status"]: row["n"] for row in rows}


# Variations: fencing, poison jobs, claim order, lease length.


async def test_a_worker_that_lost_its_lease_cannot_finish_the_job(pool: asyncpg.Pool, queue: JobQueue) -> None:
    await queue.enqueue(pool, {"n": 1})
    slow = await queue.claim(pool)
    await expire_leases(pool, queue)
    fast = await queue.claim(pool)
    assert slow is not None
    assert fast is not None

    with pytest.raises(LeaseLostError, match=rf"^job {slow.id} \(attempt 1\) is no longer held by this worker$"):
        await queue.finish(pool, slow)
    assert await queue.finish(pool, fast) == "done"
    assert await counts(pool, queue) == {"done": 1}


async def test_a_poison_job_stops_after_max_attempts_and_the_rest_get_done(pool: asyncpg.Pool, queue: JobQueue) -> None:
    async def handler(payload: dict[str, Any]) -> None:
        if payload["kind"] == "poison":
            raise ValueError("cannot parse this one")

    poison = await queue.enqueue(pool, {"kind": "poison"})  # three attempts by default
    for _ in range(3):
        await queue.enqueue(pool, {"kind": "fine"})

    async with asyncio.timeout(5), pool.acquire() as conn:
        assert await work(queue, conn, handler) == 3 + 3  # three fine jobs, three tries of the poison one

    row = await pool.fetchrow(f"SELECT status, attempts, last_error FROM {queue.table} WHERE id = $1", poison)
    assert dict(row or {}) == {"status": "failed", "attempts": 3, "last_error": "ValueError: cannot parse this one"}
    assert await counts(pool, queue) == {"done": 3, "failed": 1}


async def test_jobs_are_claimed_oldest_first_with_their_payload(pool: asyncpg.Pool, queue: JobQueue) -> None:
    ids = [await queue.enqueue(pool, {"n": n, "tags": ["a"]}) for n in range(3)]

    claimed = [await queue.claim(pool) for _ in ids]

    assert claimed == [Job(job_id, {"n": n, "tags": ["a"]}, 1, 3) for n, job_id in enumerate(ids)]
    assert await queue.claim(pool) is None


async def test_each_queue_keeps_to_its_own_table(pool: asyncpg.Pool, queue: JobQueue) -> None:
    other = JobQueue(f"{queue.table}_other")
    await other.create(pool)
    await queue.enqueue(pool, {"n": 1})
    assert await other.claim(pool) is None  # its table is still empty
    await pool.execute(f"DROP TABLE {other.table}")


@pytest.mark.parametrize(("options", "expected"), [({}, 30.0), ({"lease_seconds": 0.5}, 0.5)])
async def test_a_claim_holds_the_job_for_lease_seconds_30_by_default(
    pool: asyncpg.Pool, queue: JobQueue, options: dict[str, float], expected: float
) -> None:
    await queue.enqueue(pool, {"n": 1})
    assert await queue.claim(pool, **options) is not None

    left = await pool.fetchval(f"SELECT extract(epoch FROM locked_until - now())::float8 FROM {queue.table}")
    assert expected - 0.25 < left <= expected  # the two statements run milliseconds apart
