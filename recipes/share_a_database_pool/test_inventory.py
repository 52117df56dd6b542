"""One asyncpg pool for the whole session, on the session's loop; each test rolled back."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from .inventory import (
    SCHEMA,
    Connection,
    DuplicateSkuError,
    OutOfStockError,
    UnknownSkuError,
    add_product,
    reserve,
    reserve_all,
    stock_of,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the pool's loop: every test that uses it runs there


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pool(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(postgres_dsn, min_size=1, max_size=4) as db_pool:
        await db_pool.execute(SCHEMA)  # committed once, for every test
        yield db_pool
        await db_pool.execute("DROP TABLE products")


@pytest_asyncio.fixture(loop_scope="session")
async def conn(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    async with pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        yield connection
        await transaction.rollback()


async def test_schema_is_committed_once_for_every_test(pool: asyncpg.Pool, postgres_dsn: str) -> None:
    outsider = await asyncpg.connect(postgres_dsn)
    try:
        assert await outsider.fetchval("SELECT to_regclass('products')::text") == "products"
    finally:
        await outsider.close()


@pytest.mark.parametrize("run", ["first", "second"])
async def test_each_test_starts_with_no_products(conn: Connection, run: str) -> None:
    # Both runs add the same product: the second would hit a duplicate had the first leaked.
    assert await conn.fetchval("SELECT count(*) FROM products") == 0
    await add_product(conn, "SKU-1", 5)
    assert await stock_of(conn, "SKU-1") == 5


async def test_reserve_takes_items_out_of_stock(conn: Connection) -> None:
    await add_product(conn, "LAMP", 3)

    assert await reserve(conn, "LAMP", 2) == 1
    assert await reserve(conn, "LAMP", 1) == 0
    assert await stock_of(conn, "LAMP") == 0


async def test_concurrent_tasks_each_borrow_their_own_connection(pool: asyncpg.Pool) -> None:
    both_hold_one = asyncio.Barrier(2)

    async def backend_pid() -> int:
        async with pool.acquire() as connection:
            await both_hold_one.wait()  # proves the two connections are held at the same time
            pid: int = await connection.fetchval("SELECT pg_backend_pid()")
            return pid

    async with asyncio.timeout(5):  # a pool that cannot lend two at once fails here instead of hanging
        pids = await asyncio.gather(backend_pid(), backend_pid())

    assert len(set(pids)) == 2


# Variations: the domain errors, each leaving the test's transaction usable.


async def test_out_of_stock_reserves_nothing(conn: Connection) -> None:
    await add_product(conn, "DESK", 1)

    with pytest.raises(OutOfStockError, match=r"^cannot reserve 2 of DESK: only 1 in stock$") as excinfo:
        await reserve(conn, "DESK", 2)

    assert (excinfo.value.sku, excinfo.value.requested, excinfo.value.available) == ("DESK", 2, 1)
    assert await stock_of(conn, "DESK") == 1


async def test_unknown_sku_is_a_lookup_error(conn: Connection) -> None:
    with pytest.raises(UnknownSkuError, match=r"^no product GHOST$"):
        await reserve(conn, "GHOST", 1)
    with pytest.raises(UnknownSkuError, match=r"^no product GHOST$"):
        await stock_of(conn, "GHOST")


async def test_duplicate_sku_is_a_domain_error_and_the_transaction_stays_usable(conn: Connection) -> None:
    await add_product(conn, "MUG", 4)

    with pytest.raises(DuplicateSkuError, match=r"^product MUG already exists$") as excinfo:
        await add_product(conn, "MUG", 9)

    assert isinstance(excinfo.value.__cause__, asyncpg.UniqueViolationError)
    assert await stock_of(conn, "MUG") == 4  # the savepoint kept the test's transaction alive


async def test_an_order_is_reserved_whole_or_not_at_all(conn: Connection) -> None:
    await add_product(conn, "CHAIR", 4)
    await add_product(conn, "TABLE", 1)

    assert await reserve_all(conn, {"TABLE": 1, "CHAIR": 3}) == {"CHAIR": 1, "TABLE": 0}
    # CHAIR is reserved first (sorted), then TABLE fails: CHAIR's reservation is undone.
    with pytest.raises(OutOfStockError, match="TABLE"):
        await reserve_all(conn, {"TABLE": 1, "CHAIR": 1})
    assert await stock_of(conn, "CHAIR") == 1
