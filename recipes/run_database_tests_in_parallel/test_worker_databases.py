"""pytest-xdist workers, each on a database of its own cloned from one template."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from .worker_databases import LOCK_KEY, WorkerDatabases

SCHEMA = "CREATE TABLE visits (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, worker text NOT NULL)"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def worker_dsn(postgres_admin_dsn: str, worker_id: str, testrun_uid: str) -> AsyncIterator[str]:
    """This worker's database: `worker_id` (gw0, gw1, ... or master) and `testrun_uid` come from pytest-xdist."""
    databases = WorkerDatabases(postgres_admin_dsn, testrun_uid[:12], SCHEMA)
    dsn = await databases.create(worker_id)
    yield dsn
    await databases.drop(worker_id)


@pytest.mark.asyncio
async def test_this_worker_has_a_database_of_its_own(worker_dsn: str, worker_id: str, testrun_uid: str) -> None:
    conn = await asyncpg.connect(worker_dsn)
    try:
        assert await conn.fetchval("SELECT current_database()") == f"par_{testrun_uid[:12]}_{worker_id}"
    finally:
        await conn.close()


@pytest.mark.asyncio
async def test_the_schema_comes_from_the_template(worker_dsn: str, worker_id: str) -> None:
    conn = await asyncpg.connect(worker_dsn)
    try:
        # No DDL ran in this database: the table was copied with the template.
        await conn.execute("INSERT INTO visits (worker) VALUES ($1)", worker_id)
        assert await conn.fetchval("SELECT count(*) FROM visits WHERE worker = $1", worker_id) >= 1
    finally:
        await conn.close()


@pytest.mark.asyncio
async def test_the_last_worker_out_drops_the_template(postgres_admin_dsn: str) -> None:
    databases = WorkerDatabases(postgres_admin_dsn, f"unit_{uuid.uuid4().hex[:8]}", SCHEMA)
    prefix = databases.prefix

    await databases.create("gw0")
    await databases.create("gw1")
    assert await databases.existing() == [f"{prefix}_gw0", f"{prefix}_gw1", f"{prefix}_template"]

    await databases.drop("gw0")
    assert await databases.existing() == [f"{prefix}_gw1", f"{prefix}_template"]  # gw1 still needs it

    await databases.drop("gw1")
    assert await databases.existing() == []


# Variations: the lock really makes workers wait; the DSN keeps everything but the database.


async def wait_for_a_lock_waiter(holder: asyncpg.Connection) -> None:
    """Return once some session is queued behind ``holder`` for the advisory lock."""
    async with asyncio.timeout(2):  # a worker that never waits fails here instead of hanging
        while not await holder.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted", LOCK_KEY
        ):
            pass  # each query is an await, so the worker under test gets to run between them


@pytest.mark.asyncio
async def test_create_and_drop_wait_while_another_worker_holds_the_lock(postgres_admin_dsn: str) -> None:
    databases = WorkerDatabases(postgres_admin_dsn, f"unit_{uuid.uuid4().hex[:8]}", SCHEMA)
    holder = await asyncpg.connect(postgres_admin_dsn)  # plays the other worker
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        creating = asyncio.create_task(databases.create("gw0"))
        await wait_for_a_lock_waiter(holder)
        assert await databases.existing() == []  # queued: nothing built yet
        await holder.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        async with asyncio.timeout(5):
            await creating
        assert await databases.existing() == [databases.name_for("gw0"), databases.template]

        await holder.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        dropping = asyncio.create_task(databases.drop("gw0"))
        await wait_for_a_lock_waiter(holder)
        assert await databases.existing() == [databases.name_for("gw0"), databases.template]
        await holder.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        async with asyncio.timeout(5):
            await dropping
        assert await databases.existing() == []
    finally:
        await holder.close()
        await databases.drop("gw0")  # nothing to do unless an assertion failed


def test_each_worker_dsn_differs_only_in_the_database() -> None:
    databases = WorkerDatabases("postgresql://u:p@db.internal:5432/admin?sslmode=require", "run1", SCHEMA)

    assert databases.dsn_for("gw3") == "postgresql://u:p@db.internal:5432/par_run1_gw3?sslmode=require"
