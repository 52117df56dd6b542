"""2. Database isolation per test: six ways to give 100 tests a clean database.

Every "test" does the same work with the share_a_database_pool recipe's
inventory module: add a product, reserve two items, read the stock back. Each
sample is a whole session of 100 tests, its once-per-session set-up and
tear-down included (a pool to open, a schema or a template to build):

(a) connect per test, create the schema, drop it at the end of the test;
(b) connect per test, schema built once, each test inside a transaction rolled back;
(c) one pool for the session, schema built once, each test rolled back;
(d) a fresh database per test, cloned from a template that holds the schema;
(e) SQLAlchemy: one AsyncEngine for the session, each test's AsyncSession joined to a
    transaction rolled back at the end (join_transaction_mode="create_savepoint");
(f) the same with NullPool: a new connection per test.

(e) and (f) run the same statements through an AsyncSession, committing as application
code does (recipes/use_sqlalchemy_async_with_postgres); their floor is those statements
through one session with no isolation, so their overhead leaves out SQLAlchemy's own cost.

"Work only" runs the same statements on one open connection with no isolation
at all; a pattern's per-test overhead is its time per test minus that.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from postgres_provider import COMPOSE_DSN, UNAVAILABLE, ThrowawayCluster, find_server_bindir, with_database
from recipes.share_a_database_pool.inventory import SCHEMA, Connection, add_product, reserve, stock_of

from .harness import Comparison, Row, Target, alternate, progress, times

TESTS = 100


async def create_schema(conn: Connection) -> None:
    await conn.execute(SCHEMA)


# Pattern (d) costs about 0.2 s a test (a CREATE DATABASE each): fewer tests per sample keep the
# bench short. Its cost per test does not depend on how many tests there are.
TEMPLATE_TESTS = 20
Session = Callable[[int], Coroutine[Any, Any, None]]
PATTERNS = {
    "a": "(a) connect per test + create the schema",
    "b": "(b) connect per test + rollback",
    "c": "(c) session pool + rollback",
    "d": "(d) fresh database per test from a template",
    "e": "(e) SQLAlchemy session engine + rollback",
    "f": "(f) SQLAlchemy NullPool + rollback",
}
SQLALCHEMY = ("e", "f")
WORK_ONLY = "work only (one connection, no isolation)"
SQLALCHEMY_WORK_ONLY = "work only, SQLAlchemy (one session)"


async def one_test(conn: Connection, sku: str) -> None:
    """The work of one test: what every pattern must isolate."""
    await add_product(conn, sku, 5)
    assert await reserve(conn, sku, 2) == 3
    assert await stock_of(conn, sku) == 3


async def one_test_sqlalchemy(session: AsyncSession, sku: str) -> None:
    """one_test's statements through an AsyncSession; each commit releases a savepoint under (e) and (f)."""
    await session.execute(text("INSERT INTO products (sku, stock) VALUES (:sku, 5)"), {"sku": sku})
    await session.commit()
    await session.execute(text("SELECT stock FROM products WHERE sku = :sku FOR UPDATE"), {"sku": sku})
    reserve = text("UPDATE products SET stock = stock - 2 WHERE sku = :sku RETURNING stock")
    assert await session.scalar(reserve, {"sku": sku}) == 3
    await session.commit()
    assert await session.scalar(text("SELECT stock FROM products WHERE sku = :sku"), {"sku": sku}) == 3


class Sessions:
    """Timed sessions of tests, one method per pattern, all against one server."""

    def __init__(self, admin_dsn: str, dbname: str, template_strategy: str) -> None:
        self.admin_dsn = admin_dsn
        self.dbname = dbname
        self.dsn = with_database(admin_dsn, dbname)
        self.sqlalchemy_url = make_url(self.dsn).set(drivername="postgresql+asyncpg")
        self.strategy = template_strategy  # "" for the server's default
        self.admin: asyncpg.Connection | None = None
        self.clone_seconds: list[float] = []  # each CREATE DATABASE ... TEMPLATE of pattern (d)

    async def open(self) -> None:
        self.admin = await asyncpg.connect(self.admin_dsn)
        await self.admin.execute(f'CREATE DATABASE "{self.dbname}"')

    async def close(self) -> None:
        if self.admin is not None:
            await self.admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            await self.admin.close()

    async def timed(self, session: Session, tests: int) -> float:
        """Milliseconds per test for one whole session of ``tests`` tests."""
        started = time.perf_counter()
        await session(tests)
        return (time.perf_counter() - started) / tests * 1000

    async def connect_and_create_schema(self, tests: int) -> None:
        for n in range(tests):
            conn = await asyncpg.connect(self.dsn)
            try:
                await create_schema(conn)
                await one_test(conn, f"SKU-{n}")
                await conn.execute("DROP TABLE products")
            finally:
                await conn.close()

    async def connect_and_roll_back(self, tests: int) -> None:
        await self._schema("create")
        for n in range(tests):
            conn = await asyncpg.connect(self.dsn)
            try:
                transaction = conn.transaction()
                await transaction.start()
                await one_test(conn, f"SKU-{n}")
                await transaction.rollback()
            finally:
                await conn.close()
        await self._schema("drop")

    async def pool_and_roll_back(self, tests: int) -> None:
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
        try:
            async with pool.acquire() as conn:
                await create_schema(conn)
            for n in range(tests):
                async with pool.acquire() as conn:
                    transaction = conn.transaction()
                    await transaction.start()
                    await one_test(conn, f"SKU-{n}")
                    await transaction.rollback()
            async with pool.acquire() as conn:
                await conn.execute("DROP TABLE products")
        finally:
            await pool.close()

    async def database_per_test(self, tests: int) -> None:
        assert self.admin is not None
        template = f"{self.dbname}_tpl"
        await self.admin.execute(f'CREATE DATABASE "{template}"')
        builder = await asyncpg.connect(with_database(self.admin_dsn, template))
        try:
            await create_schema(builder)
        finally:
            await builder.close()  # a template must have no connections when it is cloned
        strategy = f" STRATEGY {self.strategy}" if self.strategy else ""
        for n in range(tests):
            name = f"{self.dbname}_t{n}"
            started = time.perf_counter()
            await self.admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}')
            self.clone_seconds.append(time.perf_counter() - started)
            conn = await asyncpg.connect(with_database(self.admin_dsn, name))
            try:
                await one_test(conn, f"SKU-{n}")
            finally:
                await conn.close()
            await self.admin.execute(f'DROP DATABASE "{name}"')
        await self.admin.execute(f'DROP DATABASE "{template}"')

    async def sqlalchemy_and_roll_back(self, tests: int) -> None:
        await self._sqlalchemy_sessions(tests, pooled=True)

    async def sqlalchemy_null_pool(self, tests: int) -> None:
        await self._sqlalchemy_sessions(tests, pooled=False)

    async def _sqlalchemy_sessions(self, tests: int, pooled: bool) -> None:
        engine = create_async_engine(self.sqlalchemy_url, **({} if pooled else {"poolclass": NullPool}))
        try:
            async with engine.begin() as conn:
                await conn.exec_driver_sql(SCHEMA)
            for n in range(tests):
                async with engine.connect() as conn:
                    transaction = await conn.begin()
                    async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint") as session:
                        await one_test_sqlalchemy(session, f"SKU-{n}")
                    await transaction.rollback()
            async with engine.begin() as conn:
                await conn.exec_driver_sql("DROP TABLE products")
        finally:
            await engine.dispose()

    async def sqlalchemy_work_only(self, tests: int) -> float:
        """Milliseconds per test for (e)'s statements through one session on one connection, as work_only."""
        engine = create_async_engine(self.sqlalchemy_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                transaction = await conn.begin()
                await conn.exec_driver_sql(SCHEMA)
                async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint") as session:
                    started = time.perf_counter()
                    for n in range(tests):
                        await one_test_sqlalchemy(session, f"SKU-{n}")
                    seconds = time.perf_counter() - started
                await transaction.rollback()
        finally:
            await engine.dispose()
        return seconds / tests * 1000

    async def work_only(self, tests: int) -> float:
        """Milliseconds per test for the bare statements, on one open connection.

        Everything runs in one transaction, rolled back once at the end (not
        timed), so that each test's own transactions are savepoints, as they are
        under (b) and (c), and no test pays for isolation.
        """
        conn = await asyncpg.connect(self.dsn)
        try:
            transaction = conn.transaction()
            await transaction.start()
            await create_schema(conn)
            started = time.perf_counter()
            for n in range(tests):
                await one_test(conn, f"SKU-{n}")
            seconds = time.perf_counter() - started
            await transaction.rollback()
        finally:
            await conn.close()
        return seconds / tests * 1000

    async def _schema(self, action: str) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            await (create_schema(conn) if action == "create" else conn.execute("DROP TABLE products"))
        finally:
            await conn.close()


def compare(rounds: int, template_strategy: str) -> Comparison:
    comparison = Comparison(
        key="2",
        slug="databases",
        title="Database isolation per test: six patterns against a real PostgreSQL",
        scenario=(
            f"each sample: one session of {TESTS} tests ((d): {TEMPLATE_TESTS}), each test adds a product, reserves "
            "and reads back (recipes/share_a_database_pool/inventory.py; (e), (f): the same statements through a "
            "SQLAlchemy AsyncSession); session set-up and tear-down included"
        ),
        reference=PATTERNS["a"],
    )
    cluster: ThrowawayCluster | None = None
    start_seconds: float | None = None
    if url := os.environ.get("DATABASE_URL"):
        admin_dsn, where = url, "DATABASE_URL"
    elif asyncio.run(_answers(COMPOSE_DSN)):
        admin_dsn, where = COMPOSE_DSN, "the docker compose service"
    else:
        bindir = find_server_bindir()
        if bindir is None:
            comparison.skipped = UNAVAILABLE
            return comparison
        progress("databases: starting a throwaway PostgreSQL cluster")
        cluster = ThrowawayCluster(bindir)
        started = time.perf_counter()
        admin_dsn = cluster.start()
        start_seconds = time.perf_counter() - started
        where = f"throwaway cluster from {bindir}"
    try:
        with asyncio.Runner() as runner:
            version = runner.run(_server_version(admin_dsn))
            if template_strategy and version < 150000:
                template_strategy = ""  # STRATEGY arrived in PostgreSQL 15
            sessions = Sessions(admin_dsn, f"cookbook_bench_{uuid.uuid4().hex[:8]}", template_strategy)
            runner.run(sessions.open())
            try:
                patterns: dict[str, tuple[Session, int]] = {
                    "a": (sessions.connect_and_create_schema, TESTS),
                    "b": (sessions.connect_and_roll_back, TESTS),
                    "c": (sessions.pool_and_roll_back, TESTS),
                    "d": (sessions.database_per_test, TEMPLATE_TESTS),
                    "e": (sessions.sqlalchemy_and_roll_back, TESTS),
                    "f": (sessions.sqlalchemy_null_pool, TESTS),
                }
                for session, _ in patterns.values():  # warm-up: first connections, catalog caches
                    runner.run(session(3))
                sessions.clone_seconds.clear()
                contenders = {key: timed_on(runner, sessions, *pattern) for key, pattern in patterns.items()}
                contenders["work"] = lambda: runner.run(sessions.work_only(TESTS))
                contenders["sqlalchemy work"] = lambda: runner.run(sessions.sqlalchemy_work_only(TESTS))
                samples = alternate(rounds, contenders, "databases")
            finally:
                runner.run(sessions.close())
    finally:
        if cluster is not None:
            cluster.stop()

    work = Row(WORK_ONLY, "ms/test", samples["work"], compare=False, note="the floor: no isolation at all")
    sqlalchemy_work = Row(
        SQLALCHEMY_WORK_ONLY, "ms/test", samples["sqlalchemy work"], compare=False, note="the floor of (e) and (f)"
    )
    for key, name in PATTERNS.items():
        row = Row(name, "ms/test", samples[key])
        floor = sqlalchemy_work if key in SQLALCHEMY else work
        row.note = f"overhead {row.median - floor.median:.2f} ms/test"
        comparison.rows.append(row)
    comparison.rows += [work, sqlalchemy_work]
    if start_seconds is not None:
        comparison.rows.append(
            Row("PostgreSQL start (initdb + postgres, ready)", "s", [start_seconds], compare=False, note="once")
        )
    speedup = comparison.row(PATTERNS["c"]).speedup_over(comparison.row(PATTERNS["a"]))
    comparison.targets.append(Target("(c) >= 5x faster than (a)", times(speedup), speedup >= 5))
    null_pool = comparison.row(PATTERNS["e"]).speedup_over(comparison.row(PATTERNS["f"]))
    comparison.targets.append(Target("(e) session engine against (f) NullPool", times(null_pool), None))
    clone_ms = statistics.median(sessions.clone_seconds) * 1000
    comparison.notes += [
        "overhead = a pattern's time per test minus the 'work only' floor (the same statements on one open "
        "connection, inside one transaction, so each test's own transactions are savepoints as under (b) and (c))",
        f"(e) and (f): overhead against '{SQLALCHEMY_WORK_ONLY}' (the same statements through one AsyncSession, "
        "its commits releasing savepoints as under (e)), so it leaves out SQLAlchemy's own cost per statement; (e) "
        f"takes {comparison.row(PATTERNS['e']).median - comparison.row(PATTERNS['c']).median:.2f} ms/test more "
        "than (c) in all",
        f"server: {where}, PostgreSQL {version // 10000}.{version % 10000}. The schema is the recipe's one table: "
        "(a) and (d) get slower as a real schema grows, (b) and (c) do not",
        f"(d): CREATE DATABASE ... TEMPLATE alone took {clone_ms:.0f} ms (median), with "
        + (f"STRATEGY {template_strategy}" if template_strategy else "the server's default strategy")
        + f" (option --template-strategy); {TEMPLATE_TESTS} tests per sample, since its cost per test is flat",
    ]
    comparison.details = {
        "server": where,
        "server_version_num": version,
        "postgres_start_seconds": start_seconds,
        "tests_per_session": {key: count for key, (_, count) in patterns.items()},
        "template_strategy": template_strategy or "server default",
        "clone_seconds": sessions.clone_seconds,
    }
    return comparison


def timed_on(runner: asyncio.Runner, sessions: Sessions, session: Session, tests: int) -> Callable[[], float]:
    """A contender for ``alternate``: one timed session on the runner's loop, in ms per test."""
    return lambda: runner.run(sessions.timed(session, tests))


async def _answers(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=2)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    await conn.close()
    return True


async def _server_version(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SHOW server_version_num"))
    finally:
        await conn.close()
