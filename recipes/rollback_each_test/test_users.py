"""Each test runs inside a transaction that is rolled back: no test sees another's rows."""

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from .users import DuplicateEmailError, UnstorableTextError, UserNotFoundError, UserRepository

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def conn(postgres_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back after the test, even a failed one."""
    connection = await asyncpg.connect(postgres_dsn)
    transaction = connection.transaction()  # asyncpg's own, never a raw "BEGIN"
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


@pytest.mark.parametrize("run", ["first", "second"])
async def test_each_test_starts_from_an_empty_table(users: UserRepository, run: str) -> None:
    # Both runs write the same row: whichever runs second would find the first
    # one's row, or hit a duplicate, had the rollback not happened.
    assert await users.list() == []
    added = await users.add("same@example.org", run)
    assert await users.list() == [added]


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

    with pytest.raises(DuplicateEmailError, match=r"^a user with email 'dup@example\.org' already exists$") as excinfo:
        await users.add("dup@example.org", "Copy")

    assert isinstance(excinfo.value.__cause__, asyncpg.UniqueViolationError)
    assert await users.list() == [original]  # the savepoint kept the test's transaction alive


# Variations: nested transactions, lookups, hostile input.


async def test_add_many_is_all_or_nothing(users: UserRepository) -> None:
    taken = await users.add("taken@example.org", "Taken")

    with pytest.raises(DuplicateEmailError):
        await users.add_many([("new@example.org", "New"), ("taken@example.org", "Again")])

    assert await users.list() == [taken]


async def test_add_many_adds_every_user_in_order(users: UserRepository) -> None:
    added = await users.add_many([("y@example.org", "Y"), ("x@example.org", "X")])

    assert [(user.email, user.name) for user in added] == [("y@example.org", "Y"), ("x@example.org", "X")]
    assert await users.list() == added


async def test_unknown_id_raises_not_found(users: UserRepository) -> None:
    known = await users.add("known@example.org", "Known")

    with pytest.raises(UserNotFoundError, match=rf"^no user with id {known.id + 1}$"):
        await users.get(known.id + 1)


async def test_hostile_input_is_stored_as_plain_text(users: UserRepository) -> None:
    hostile = "Robert'); DROP TABLE users; --"

    added = await users.add("bobby@example.org", hostile)

    assert (await users.get(added.id)).name == hostile
    assert await users.list() == [added]  # the table is still there


@pytest.mark.parametrize(
    ("email", "name", "raw_error"),  # what asyncpg raised before: CharacterNotInRepertoireError, then DataError
    [
        ("nul\x00@example.org", "Nul", 'invalid byte sequence for encoding "UTF8": 0x00'),
        ("lone@example.org", "\ud800", "invalid input for query argument $2: '\\ud800' ('utf-8' codec can't encode"),
    ],
    ids=["nul-byte", "lone-surrogate"],
)
async def test_text_postgres_cannot_store_is_a_domain_error(
    users: UserRepository, email: str, name: str, raw_error: str
) -> None:
    with pytest.raises(
        UnstorableTextError, match=r"^an email or name holds a NUL byte or a lone surrogate$"
    ) as excinfo:
        await users.add(email, name)

    assert isinstance(excinfo.value.__cause__, asyncpg.DataError)
    assert str(excinfo.value.__cause__).startswith(raw_error)
    assert await users.list() == []  # the savepoint kept the test's transaction usable


@pytest.mark.parametrize("user_id", [2**63, -(2**63) - 1])  # just past a bigint: asyncpg raised DataError
async def test_an_id_past_a_bigint_is_not_found(users: UserRepository, user_id: int) -> None:
    with pytest.raises(UserNotFoundError, match=rf"^no user with id {user_id}$"):
        await users.get(user_id)
