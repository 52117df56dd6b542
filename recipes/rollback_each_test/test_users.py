"""Each test runs inside a transaction that is rolled back: no test sees another's rows."""

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from .users import DuplicateEmailError, UserNotFoundError, UserRepository

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def conn(postgres_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    connection = await asyncpg.connect(postgres_dsn)
    transaction = connection.transaction()
    await transaction.start()
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


@pytest_asyncio.fixture
async def users(conn: asyncpg.Connection) -> UserRepository:
    repository = UserRepository(conn)
    await repository.create_schema()  # DDL is transactional: rolled back with the rest
    return repository


async def test_added_user_can_be_read_back(users: UserRepository) -> None:
    added = await users.add("ada@example.org", "Ada")

    assert await users.get(added.id) == added
    assert (added.email, added.name) == ("ada@example.org", "Ada")


async def test_rename_changes_only_the_name(users: UserRepository) -> None:
    added = await users.add("grace@example.org", "Grace")

    renamed = await users.rename(added.id, "Grace Hopper")

    assert renamed == added.__class__(added.id, "grace@example.org", "Grace Hopper")
    assert await users.get(added.id) == renamed


async def test_list_returns_users_in_insertion_order(users: UserRepository) -> None:
    first = await users.add("b@example.org", "B")
    second = await users.add("a@example.org", "A")

    assert await users.list() == [first, second]


@pytest.mark.parametrize("run", ["first", "second"])
async def test_each_test_starts_from_an_empty_table(users: UserRepository, run: str) -> None:
    # Both runs write the same row; whichever runs second would see the first
    # one's row, or hit a duplicate, if the rollback had not happened.
    assert await users.list() == []
    await users.add("same@example.org", run)
    assert len(await users.list()) == 1


async def test_uncommitted_work_is_invisible_to_other_connections(users: UserRepository, postgres_dsn: str) -> None:
    await users.add("hidden@example.org", "Hidden")

    other = await asyncpg.connect(postgres_dsn)
    try:
        # Not even the table exists outside the test's transaction.
        assert await other.fetchval("SELECT to_regclass('users')") is None
    finally:
        await other.close()


async def test_duplicate_email_is_a_domain_error_and_the_connection_stays_usable(users: UserRepository) -> None:
    original = await users.add("dup@example.org", "Original")

    with pytest.raises(DuplicateEmailError, match=r"dup@example\.org") as excinfo:
        await users.add("dup@example.org", "Copy")

    assert isinstance(excinfo.value.__cause__, asyncpg.UniqueViolationError)
    assert await users.list() == [original]


async def test_add_many_is_all_or_nothing(users: UserRepository) -> None:
    await users.add("taken@example.org", "Taken")

    with pytest.raises(DuplicateEmailError):
        await users.add_many([("new@example.org", "New"), ("taken@example.org", "Again")])

    assert [user.email for user in await users.list()] == ["taken@example.org"]


async def test_add_many_adds_every_user(users: UserRepository) -> None:
    added = await users.add_many([("x@example.org", "X"), ("y@example.org", "Y")])

    assert await users.list() == added
    assert [user.name for user in added] == ["X", "Y"]


async def test_hostile_input_is_stored_as_plain_text(users: UserRepository) -> None:
    hostile = "Robert'); DROP TABLE users; --"

    added = await users.add("bobby@example.org", hostile)

    assert (await users.get(added.id)).name == hostile
    assert await users.list() == [added]  # the table is still there


@pytest.mark.parametrize("email", ["a@b", "X@example.org", "first.last+tag@sub.example.org"])
async def test_any_address_with_text_around_an_at_sign_is_accepted(users: UserRepository, email: str) -> None:
    added = await users.add(email, "Name")

    assert added.email == email


@pytest.mark.parametrize("email", ["", "no-at-sign", "@example.org", "someone@"])
async def test_invalid_email_is_refused(users: UserRepository, email: str) -> None:
    with pytest.raises(ValueError, match="invalid email"):
        await users.add(email, "Name")
    assert await users.list() == []


async def test_blank_name_is_refused_on_add_and_rename(users: UserRepository) -> None:
    added = await users.add("named@example.org", "Named")

    with pytest.raises(ValueError, match=r"^name must not be blank$"):
        await users.add("other@example.org", "   ")
    with pytest.raises(ValueError, match=r"^name must not be blank$"):
        await users.rename(added.id, "")
    assert await users.list() == [added]


async def test_unknown_id_raises_not_found(users: UserRepository) -> None:
    with pytest.raises(UserNotFoundError, match="no user with id 404"):
        await users.get(404)
    with pytest.raises(UserNotFoundError, match="no user with id 404"):
        await users.rename(404, "Nobody")


async def test_a_closed_connection_fails_loudly(postgres_dsn: str) -> None:
    connection = await asyncpg.connect(postgres_dsn)
    await connection.close()

    with pytest.raises(asyncpg.InterfaceError, match="connection is closed"):
        await UserRepository(connection).list()


async def test_raw_begin_breaks_code_that_uses_transactions(postgres_dsn: str) -> None:
    # The pitfall: a fixture that runs "BEGIN" itself hides the transaction from
    # asyncpg, so any code under test that opens `conn.transaction()` fails.
    connection = await asyncpg.connect(postgres_dsn)
    try:
        await connection.execute("BEGIN")
        repository = UserRepository(connection)
        await repository.create_schema()
        with pytest.raises(asyncpg.InterfaceError, match=r"cannot use Connection\.transaction\(\)"):
            await repository.add("late@example.org", "Late")
        await connection.execute("ROLLBACK")
    finally:
        await connection.close()


async def test_a_failed_statement_without_a_savepoint_poisons_the_transaction(
    conn: asyncpg.Connection, users: UserRepository
) -> None:
    await users.add("once@example.org", "Once")

    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("INSERT INTO users (email, name) VALUES ('once@example.org', 'Twice')")

    with pytest.raises(asyncpg.InFailedSQLTransactionError, match="current transaction is aborted"):
        await users.list()
