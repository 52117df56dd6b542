"""One asyncpg pool for the whole session, on the session's loop; each test rolled back."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from .inventory import (
    Connection,
    DuplicateSkuError,
    OutOfStockError,
    UnknownSkuError,
    add_product,
    create_schema,
    reserve,
    reserve_all,
    stock_of,
)

# The pool lives on the session's loop, so every test that touches it must run there too.
on_session_loop = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pool(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """Created once per session (per xdist worker); the schema is committed once."""
    db_pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=4)
    try:
        async with db_pool.acquire() as connection:
            await create_schema(connection)
        yield db_pool
        async with db_pool.acquire() as connection:
            await connection.execute("DROP TABLE products")
    finally:
        await db_pool.close()


@pytest_asyncio.fixture(loop_scope="session")
async def conn(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    """A pooled connection inside a transaction that is rolled back after the test."""
    async with pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        try:
            yield connection
        finally:
            await transaction.rollback()


@on_session_loop
async def test_schema_is_committed_once_for_every_test(pool: asyncpg.Pool, postgres_dsn: str) -> None:
    outsider = await asyncpg.connect(postgres_dsn)
    try:
        assert await outsider.fetchval("SELECT to_regclass('products')::text") == "products"
    finally:
        await outsider.close()


@on_session_loop
@pytest.mark.parametrize("run", ["first", "second"])
async def test_each_test_starts_with_no_products(conn: Connection, run: str) -> None:
    # Whichever run comes second would see the first one's product without the rollback.
    assert await conn.fetchval("SELECT count(*) FROM products") == 0
    await add_product(conn, "SKU-1", 5)
    assert await stock_of(conn, "SKU-1") == 5


@on_session_loop
async def test_reserve_takes_items_out_of_stock(conn: Connection) -> None:
    await add_product(conn, "LAMP", 3)

    assert await reserve(conn, "LAMP", 2) == 1
    assert await reserve(conn, "LAMP", 1) == 0
    assert await stock_of(conn, "LAMP") == 0


@on_session_loop
async def test_out_of_stock_reserves_nothing(conn: Connection) -> None:
    await add_product(conn, "DESK", 1)

    with pytest.raises(OutOfStockError, match="cannot reserve 2 of DESK: only 1 in stock") as excinfo:
        await reserve(conn, "DESK", 2)

    assert (excinfo.value.sku, excinfo.value.requested, excinfo.value.available) == ("DESK", 2, 1)
    assert await stock_of(conn, "DESK") == 1


@on_session_loop
async def test_a_product_can_be_listed_with_no_stock_yet(conn: Connection) -> None:
    await add_product(conn, "SOFA", 0)

    assert await stock_of(conn, "SOFA") == 0
    with pytest.raises(OutOfStockError, match="only 0 in stock"):
        await reserve(conn, "SOFA", 1)


@on_session_loop
async def test_unknown_sku_is_a_lookup_error(conn: Connection) -> None:
    with pytest.raises(UnknownSkuError, match="no product GHOST"):
        await reserve(conn, "GHOST", 1)
    with pytest.raises(UnknownSkuError, match="no product GHOST"):
        await stock_of(conn, "GHOST")


@on_session_loop
@pytest.mark.parametrize(
    ("sku", "stock", "message"),
    [("lower", 1, "invalid SKU"), ("", 1, "invalid SKU"), ("X" * 33, 1, "invalid SKU"), ("OK", -1, "negative")],
)
async def test_bad_product_is_refused(conn: Connection, sku: str, stock: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await add_product(conn, sku, stock)
    assert await conn.fetchval("SELECT count(*) FROM products") == 0


@on_session_loop
@pytest.mark.parametrize("quantity", [0, -3])
async def test_quantity_must_be_positive(conn: Connection, quantity: int) -> None:
    await add_product(conn, "PEN", 10)

    with pytest.raises(ValueError, match="quantity must be positive"):
        await reserve(conn, "PEN", quantity)
    assert await stock_of(conn, "PEN") == 10


@on_session_loop
async def test_duplicate_sku_is_a_domain_error_and_the_transaction_stays_usable(conn: Connection) -> None:
    await add_product(conn, "MUG", 4)

    with pytest.raises(DuplicateSkuError, match="MUG already exists") as excinfo:
        await add_product(conn, "MUG", 9)

    assert isinstance(excinfo.value.__cause__, asyncpg.UniqueViolationError)
    assert await stock_of(conn, "MUG") == 4  # the savepoint kept the test's transaction alive


@on_session_loop
async def test_an_order_is_reserved_whole_or_not_at_all(conn: Connection) -> None:
    await add_product(conn, "CHAIR", 4)
    await add_product(conn, "TABLE", 1)

    assert await reserve_all(conn, {"TABLE": 1, "CHAIR": 3}) == {"CHAIR": 1, "TABLE": 0}
    # CHAIR is reserved first (sorted), then TABLE fails: CHAIR's reservation is undone.
    with pytest.raises(OutOfStockError, match="TABLE"):
        await reserve_all(conn, {"TABLE": 1, "CHAIR": 1})
    assert await stock_of(conn, "CHAIR") == 1


@on_session_loop
async def test_one_connection_runs_one_query_at_a_time(conn: Connection) -> None:
    results: list[object] = await asyncio.gather(
        conn.fetchval("SELECT pg_sleep(0.01)::text"), conn.fetchval("SELECT 1"), return_exceptions=True
    )
    slow, fast = results

    assert slow == ""
    assert isinstance(fast, asyncpg.InterfaceError)
    assert "cannot perform operation: another operation is in progress" in str(fast)


@on_session_loop
async def test_concurrent_queries_each_take_their_own_pooled_connection(pool: asyncpg.Pool) -> None:
    async def backend_pid() -> int:
        async with pool.acquire() as connection:
            pid: int = await connection.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.01)")
            return pid

    pids = await asyncio.gather(backend_pid(), backend_pid())

    assert len(set(pids)) == 2  # two connections, both at once


WRONG_AND_RIGHT = """
import os

import asyncpg
import pytest
import pytest_asyncio

DSN = os.environ["SANDBOX_DSN"]


@pytest.fixture(scope="module")
async def doc_pool():
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=1)
    yield pool
    await pool.close()


async def test_doc_fixture(doc_pool):
    pass


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pool():
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=1)
    yield pool
    await pool.close()


async def test_1_on_the_function_loop(pool):
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")


async def test_2_on_the_function_loop_again(pool):
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")


@pytest.mark.asyncio(loop_scope="session")
async def test_3_on_the_session_loop(pool):
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT 1") == 1
"""


def test_a_pool_on_another_loop_fails_and_the_doc_fixture_errors(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, postgres_dsn: str
) -> None:
    monkeypatch.setenv("SANDBOX_DSN", postgres_dsn)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_pool=WRONG_AND_RIGHT)

    # A subprocess: the broken tests leave connections behind that belong to dead loops.
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:aiohttp"
    )

    result.assert_outcomes(passed=1, failed=2, errors=1)
    result.stdout.fnmatch_lines_random(
        [
            "*ScopeMismatch: You tried to access the function scoped fixture _function_scoped_runner "
            "with a module scoped request object*",
            "*got Future <Future pending*> attached to a different loop",
            "*InterfaceError: cannot perform operation: another operation is in progress",
        ]
    )
