"""One AsyncEngine on the session's loop; each test in a transaction rolled back, though the code commits."""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from .blog import Author, Base, DuplicateEmailError, UnknownAuthorError, find_author, publish, register

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the engine's loop: every test that uses it runs there


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def engine(postgres_dsn: str) -> AsyncIterator[AsyncEngine]:
    url = make_url(postgres_dsn).set(drivername="postgresql+asyncpg")
    db_engine = create_async_engine(url)  # its pool keeps connections made on the session loop
    async with db_engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)  # committed once, for every test
    yield db_engine
    async with db_engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await db_engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with engine.connect() as conn:
        transaction = await conn.begin()  # the test's transaction: never committed
        # The code's commit() releases a SAVEPOINT inside it, its rollback() goes back to one.
        async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as db:
            yield db
        await transaction.rollback()


async def count_authors(session: AsyncSession) -> int | None:
    return await session.scalar(select(func.count()).select_from(Author))


@pytest.mark.parametrize("run", ["first", "second"])
async def test_each_test_starts_with_no_authors(session: AsyncSession, run: str) -> None:
    # Both runs commit the same unique email: whichever runs second would get
    # DuplicateEmailError had the first one's commit outlived its test.
    assert await count_authors(session) == 0
    author = await register(session, "same@example.org", run)
    assert (author.email, author.name) == ("same@example.org", run)
    assert await count_authors(session) == 1


async def test_committed_work_is_seen_by_the_test_and_no_one_else(session: AsyncSession, engine: AsyncEngine) -> None:
    await register(session, "ada@example.org", "Ada")  # commits

    assert await count_authors(session) == 1  # a query, not the identity map: the row is in the test's transaction
    async with engine.connect() as other:  # another pooled connection: outside the test's transaction
        assert await other.scalar(select(func.count()).select_from(Author)) == 0


async def test_a_rollback_in_the_code_undoes_only_its_own_work(session: AsyncSession) -> None:
    await register(session, "dup@example.org", "Original")

    with pytest.raises(DuplicateEmailError, match=r"^an author with email 'dup@example\.org' already exists$"):
        await register(session, "dup@example.org", "Copy")

    # Its rollback went back to a SAVEPOINT: the first author, committed before, is still there.
    assert (await find_author(session, "dup@example.org")).name == "Original"
    assert await count_authors(session) == 1


async def test_posts_loaded_up_front_are_read_without_io(session: AsyncSession) -> None:
    await register(session, "grace@example.org", "Grace")
    await publish(session, "grace@example.org", "Compilers")
    await publish(session, "grace@example.org", "Debugging")
    session.expunge_all()  # forget every loaded object, as a new request's session would

    author = await find_author(session, "grace@example.org")  # selectinload(Author.posts)

    assert [post.title for post in author.posts] == ["Compilers", "Debugging"]
    assert author.posts[0].author is author


# Variations: lazy loading that can be awaited, a missing author, NullPool.


async def test_awaitable_attrs_load_a_relationship_on_demand(session: AsyncSession) -> None:
    await register(session, "lin@example.org", "Lin")
    await publish(session, "lin@example.org", "Notes")
    session.expunge_all()
    author = await session.scalar(select(Author).where(Author.email == "lin@example.org"))  # posts not loaded
    assert author is not None

    posts = await author.awaitable_attrs.posts  # the lazy load, awaited

    assert [post.title for post in posts] == ["Notes"]


async def test_publishing_for_an_unknown_author_is_a_lookup_error(session: AsyncSession) -> None:
    with pytest.raises(UnknownAuthorError, match=r"^no author with email 'ghost@example\.org'$"):
        await publish(session, "ghost@example.org", "Boo")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def null_pool_engine(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    # No pool: each connect() opens a connection on the loop that awaits it, and close() ends it.
    db_engine = create_async_engine(engine.url, poolclass=NullPool)
    yield db_engine
    await db_engine.dispose()


@pytest.mark.asyncio(loop_scope="function")  # this test's own loop: fine, since nothing is kept between tests
async def test_a_null_pool_engine_works_from_any_loop_at_a_connection_per_connect(
    null_pool_engine: AsyncEngine,
) -> None:
    pids = []
    for _ in range(2):
        async with null_pool_engine.connect() as conn:
            transaction = await conn.begin()
            async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint") as db:
                await register(db, "nullpool@example.org", "Once")  # commits, and is rolled back below
                pids.append(await db.scalar(select(func.pg_backend_pid())))
            await transaction.rollback()

    assert pids[0] != pids[1]  # two connections: two server processes, the cost NullPool pays every time
