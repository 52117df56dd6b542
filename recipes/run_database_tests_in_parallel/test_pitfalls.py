"""A session fixture runs once per xdist worker, not once per run; and worker databases need CREATEDB."""

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from . import worker_databases
from .worker_databases import WorkerDatabases

pytest_plugins = ["pytester"]

SANDBOX_TESTS = """
import asyncpg
import pytest
import pytest_asyncio

from worker_databases import WorkerDatabases


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def worker_dsn(worker_id, testrun_uid):
    databases = WorkerDatabases(ADMIN_DSN, testrun_uid[:12], "CREATE TABLE t (x int)")
    dsn = await databases.create(worker_id)
    yield dsn
    await databases.drop(worker_id)


@pytest.mark.asyncio
@pytest.mark.parametrize("n", range(8))
async def test_record_database(worker_dsn, n):
    conn = await asyncpg.connect(worker_dsn)
    try:
        name = await conn.fetchval("SELECT current_database()")
        await conn.execute("INSERT INTO t VALUES ($1)", n)
    finally:
        await conn.close()
    with open(LOG, "a") as log:
        log.write(name + "\\n")
"""


def test_two_workers_get_two_databases_and_leave_none_behind(
    pytester: pytest.Pytester, postgres_admin_dsn: str
) -> None:
    # "Session" scope under xdist means once per worker process: two workers, two
    # session fixtures, which agree on the template only through testrun_uid and the lock.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(worker_databases=Path(worker_databases.__file__).read_text())
    log = pytester.path / "databases.txt"
    pytester.makepyfile(test_parallel=f"ADMIN_DSN = {postgres_admin_dsn!r}\nLOG = {str(log)!r}\n" + SANDBOX_TESTS)

    result = pytester.runpytest(
        "--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "xdist", "-n", "2", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=8)
    used = set(log.read_text().split())  # e.g. {"par_<run id>_gw0", "par_<run id>_gw1"}
    run_ids = {name.split("_")[1] for name in used}
    assert len(run_ids) == 1
    assert {name.rsplit("_", 1)[1] for name in used} == {"gw0", "gw1"}
    leftovers = WorkerDatabases(postgres_admin_dsn, run_ids.pop(), "").existing()
    assert asyncio.run(leftovers) == []  # clones and template all dropped


@pytest.mark.asyncio
async def test_a_role_without_createdb_cannot_make_worker_databases(postgres_admin_dsn: str) -> None:
    # A DATABASE_URL whose user may not create databases cannot give workers databases of their own.
    # The provider's sweep drops a role of this name that a killed run left, unless a session bears its name.
    role = f"cookbook_role_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_admin_dsn, server_settings={"application_name": role})
    try:
        await conn.execute(f"CREATE ROLE {role} NOLOGIN NOCREATEDB")
        await conn.execute(f"SET ROLE {role}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError) as excinfo:
            await conn.execute('CREATE DATABASE "never_created"')
    finally:
        await conn.execute("RESET ROLE")
        await conn.execute(f"DROP ROLE IF EXISTS {role}")
        await conn.close()

    assert str(excinfo.value) == "permission denied to create database"
