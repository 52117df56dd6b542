"""A pool on the wrong loop, the doc's module-scoped fixture, two queries on one connection: each error shown."""

import asyncio

import asyncpg
import pytest

pytest_plugins = ["pytester"]

BUSY = "cannot perform operation: another operation is in progress"


def test_a_pool_on_another_loop_fails_and_the_doc_fixture_errors(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, postgres_dsn: str
) -> None:
    monkeypatch.setenv("SANDBOX_DSN", postgres_dsn)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import os

        import asyncpg
        import pytest
        import pytest_asyncio

        DSN = os.environ["SANDBOX_DSN"]

        @pytest.fixture(scope="module")  # the doc's fixture
        async def doc_pool():
            pool = await asyncpg.create_pool(DSN, min_size=1, max_size=1)
            yield pool
            await pool.close()

        async def test_0_the_doc_fixture(doc_pool):
            pass

        @pytest_asyncio.fixture(scope="session", loop_scope="session")
        async def pool():
            pool = await asyncpg.create_pool(DSN, min_size=1, max_size=1)
            yield pool
            await pool.close()

        async def test_1_on_the_function_loop(pool):  # the mistake: no loop_scope="session"
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")

        @pytest.mark.asyncio(loop_scope="session")
        async def test_3_on_the_session_loop(pool):
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT 1") == 1
        """
    )

    # A subprocess: the failed tests leave connections behind that belong to dead loops.
    result = pytester.runpytest_subprocess(
        "--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_0_the_doc_fixture*",
            "ScopeMismatch: You tried to access the function scoped fixture _function_scoped_runner "
            "with a module scoped request object. Requesting fixture stack:",
            "*_ test_1_on_the_function_loop _*",
            "E   RuntimeError: Task <Task pending * got Future <Future pending*> attached to a different loop",
            "During handling of the above exception, another exception occurred:",
            f"E   asyncpg.exceptions._base.InterfaceError: {BUSY}",
        ]
    )


@pytest.mark.asyncio
async def test_one_connection_runs_one_query_at_a_time(postgres_dsn: str) -> None:
    connection = await asyncpg.connect(postgres_dsn)
    try:
        # Even on the right loop: the second query starts while the first awaits its answer.
        results: list[object] = await asyncio.gather(
            connection.fetchval("SELECT 1"), connection.fetchval("SELECT 2"), return_exceptions=True
        )
    finally:
        await connection.close()

    first, second = results
    assert first == 1
    assert isinstance(second, asyncpg.InterfaceError)
    assert str(second) == BUSY
