"""Ways a per-test transaction goes wrong, each with the exact error it gives."""

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from .users import UserRepository

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def connection(postgres_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A bare connection; each pitfall opens (and ends) its transaction its own way."""
    opened = await asyncpg.connect(postgres_dsn)
    try:
        yield opened
    finally:
        await opened.close()


async def test_raw_begin_breaks_code_that_uses_transactions(connection: asyncpg.Connection) -> None:
    # asyncpg does not know about a transaction it did not start, so code under
    # test that opens `conn.transaction()` refuses to run.
    await connection.execute("BEGIN")
    users = UserRepository(connection)
    await users.create_schema()

    with pytest.raises(asyncpg.InterfaceError) as excinfo:
        await users.add("late@example.org", "Late")

    assert str(excinfo.value) == "cannot use Connection.transaction() in a manually started transaction"
    await connection.execute("ROLLBACK")


async def test_a_failed_statement_without_a_savepoint_poisons_the_transaction(connection: asyncpg.Connection) -> None:
    transaction = connection.transaction()
    await transaction.start()
    try:
        users = UserRepository(connection)
        await users.create_schema()
        await users.add("once@example.org", "Once")
        with pytest.raises(asyncpg.UniqueViolationError):  # no savepoint around this statement
            await connection.execute("INSERT INTO users (email, name) VALUES ('once@example.org', 'Twice')")

        with pytest.raises(asyncpg.InFailedSQLTransactionError) as excinfo:
            await users.list()  # any later statement, until the rollback
    finally:
        await transaction.rollback()

    assert str(excinfo.value) == "current transaction is aborted, commands ignored until end of transaction block"


async def test_code_on_its_own_connection_cannot_see_the_tests_tables(
    connection: asyncpg.Connection, postgres_dsn: str
) -> None:
    # The app under test opened its own connection (or pool): the schema the test
    # created inside its uncommitted transaction does not exist there.
    transaction = connection.transaction()
    await transaction.start()
    try:
        await UserRepository(connection).create_schema()
        apps_connection = await asyncpg.connect(postgres_dsn)
        try:
            with pytest.raises(asyncpg.UndefinedTableError) as excinfo:
                await UserRepository(apps_connection).list()
        finally:
            await apps_connection.close()
    finally:
        await transaction.rollback()

    assert str(excinfo.value) == 'relation "users" does not exist'
