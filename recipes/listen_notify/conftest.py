"""The fixtures test_order_events.py and test_pitfalls.py share: a pool, and a channel of its own per test."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio


@pytest_asyncio.fixture
async def pool(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    # Nothing is delivered before a commit, so no rolled-back test transaction
    # here: a channel of its own keeps each test (and xdist worker) apart instead.
    async with asyncpg.create_pool(postgres_dsn, min_size=0, max_size=3) as db_pool:
        yield db_pool


@pytest.fixture
def channel() -> str:
    return f"orders_{uuid.uuid4().hex[:12]}"
