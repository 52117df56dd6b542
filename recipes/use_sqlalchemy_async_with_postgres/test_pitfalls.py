"""An engine used from the wrong loop, MissingGreenlet, a session not joined with a savepoint: each error shown."""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

# Loaded before any sandbox runs: pytester unloads the modules a sandbox imported first, and importing
# SQLAlchemy's PostgreSQL dialect again warns "The GenericFunction '_regconfig_fn' is already registered".
import sqlalchemy.dialects.postgresql.asyncpg  # noqa: F401
from sqlalchemy import delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import MissingGreenlet, SAWarning
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from .blog import Author, Base, DuplicateEmailError, publish, register

pytest_plugins = ["pytester"]

MISSING_GREENLET = (
    "greenlet_spawn has not been called; can't call await_() here. Was IO attempted in an unexpected place? "
    "(Background on this error at: https://sqlalche.me/e/21/xd2s)"
)


def asyncpg_url(postgres_dsn: str) -> str:
    return make_url(postgres_dsn).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@pytest_asyncio.fixture
async def conn(postgres_dsn: str) -> AsyncIterator[AsyncConnection]:
    """A connection on this test's loop (NullPool), inside a transaction rolled back at the end."""
    engine = create_async_engine(asyncpg_url(postgres_dsn), poolclass=NullPool)
    async with engine.begin() as setup:
        await setup.run_sync(Base.metadata.create_all)  # committed: a no-op where the tables exist already
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()
    await engine.dispose()


def test_an_engine_on_the_session_loop_fails_tests_on_their_own_loop(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, postgres_dsn: str
) -> None:
    monkeypatch.setenv("SANDBOX_DSN", asyncpg_url(postgres_dsn))
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import os

        import pytest
        import pytest_asyncio
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        @pytest_asyncio.fixture(scope="session", loop_scope="session")
        async def engine():
            engine = create_async_engine(os.environ["SANDBOX_DSN"])
            async with engine.connect() as conn:  # the pool now holds a connection of the session loop
                await conn.execute(text("SELECT 1"))
            yield engine
            await engine.dispose()

        async def test_1_on_its_own_loop(engine):  # the mistake: no loop_scope="session"
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        @pytest.mark.asyncio(loop_scope="session")
        async def test_2_on_the_session_loop(engine):  # right, but handed the connection test 1 left busy
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        """
    )

    # The sandbox loads only the plugins it names: nothing else installed can change its outcome.
    result = pytester.runpytest(
        "--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider", "--tb=short"
    )

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_1_on_its_own_loop _*",
            # fnmatch reads [...] as a set of characters: `*` stands for the Future's callback list.
            "E   RuntimeError: Task <Task pending * got Future <Future pending cb=*_on_waiter_completed*>"
            " attached to a different loop",
            "*_ test_2_on_the_session_loop _*",
            "E   sqlalchemy.exc.InterfaceError: (sqlalchemy.dialects.postgresql.asyncpg.InterfaceError) "
            "cannot perform operation: another operation is in progress",
        ]
    )


@pytest.mark.asyncio
async def test_expire_on_commit_makes_reading_an_attribute_after_commit_fail(conn: AsyncConnection) -> None:
    # expire_on_commit=True is the default: the commit expired every attribute of `author`.
    async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint") as session:
        author = await register(session, "ada@example.org", "Ada")

        with pytest.raises(MissingGreenlet) as excinfo:
            _ = author.name  # a reload would need a query, and a plain attribute cannot await one

        assert str(excinfo.value) == MISSING_GREENLET
        assert await author.awaitable_attrs.name == "Ada"  # the awaited reload works


@pytest.mark.asyncio
async def test_a_relationship_not_loaded_up_front_cannot_be_read(conn: AsyncConnection) -> None:
    async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as session:
        await register(session, "lin@example.org", "Lin")
        await publish(session, "lin@example.org", "Notes")
        session.expunge_all()
        author = await session.scalar(select(Author).where(Author.email == "lin@example.org"))  # no selectinload
        assert author is not None

        with pytest.raises(MissingGreenlet) as excinfo:
            _ = author.posts  # lazy loading is I/O

        assert str(excinfo.value) == MISSING_GREENLET


@pytest.mark.asyncio
async def test_a_rollback_expires_objects_even_without_expire_on_commit(conn: AsyncConnection) -> None:
    async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as session:
        first = await register(session, "dup@example.org", "First")
        with pytest.raises(DuplicateEmailError):
            await register(session, "dup@example.org", "Second")  # it called session.rollback()

        with pytest.raises(MissingGreenlet) as excinfo:
            _ = first.name

        assert str(excinfo.value) == MISSING_GREENLET


@pytest.mark.asyncio
async def test_without_create_savepoint_the_codes_rollback_ends_the_tests_transaction(postgres_dsn: str) -> None:
    engine = create_async_engine(asyncpg_url(postgres_dsn), poolclass=NullPool)
    try:
        async with engine.begin() as setup:
            await setup.run_sync(Base.metadata.create_all)
        async with engine.connect() as connection:
            transaction = await connection.begin()
            async with AsyncSession(bind=connection, expire_on_commit=False) as session:  # the default join mode
                await register(session, "kept@example.org", "Kept")  # commit: not passed on, as hoped
                with pytest.raises(DuplicateEmailError):
                    await register(session, "kept@example.org", "Again")  # its rollback ends the test's transaction
                await register(session, "leaked@example.org", "Leaked")  # a new transaction, really committed
            with pytest.warns(SAWarning, match=r"^transaction already deassociated from connection$"):
                await transaction.rollback()  # the fixture's teardown

        async with engine.connect() as outside:
            emails = set((await outside.scalars(select(Author.email))).all())
        assert "leaked@example.org" in emails  # it outlived the test: the next test would find it
        assert "kept@example.org" not in emails  # the test's own data vanished mid-test
    finally:
        async with engine.begin() as cleanup:
            await cleanup.execute(delete(Author).where(Author.email == "leaked@example.org"))
        await engine.dispose()
