"""The fixtures test_job_queue.py and test_pitfalls.py share: a pool, and a table of its own per test."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from .job_queue import JobQueue


@pytest_asyncio.fixture
async def pool(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(postgres_dsn, min_size=0, max_size=5) as db_pool:
        yield db_pool


@pytest_asyncio.fixture
async def queue(pool: asyncpg.Pool) -> AsyncIterator[JobQueue]:
    # Workers must commit for the others to see their claims, so a rolled-back
    # transaction cannot isolate these tests: each gets a table of its own instead.
    job_queue = JobQueue(f"jobs_{uuid.uuid4().hex[:12]}")
    await job_queue.create(pool)
    yield job_queue
    await pool.execute(f"DROP TABLE {job_queue.table}")
