"""Leaks that pass unnoticed, each run in a sandbox with warnings as errors, and the failure users then see."""

import pytest

pytest_plugins = ["pytester"]

SANDBOX_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
LEAN = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]


def test_an_unclosed_session_fails_the_test_that_leaked_it(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makeconftest(
        """
        import gc

        import pytest

        @pytest.fixture(autouse=True)
        def collect_garbage():
            yield
            gc.collect()  # free reference cycles now, so their warnings name this test
        """
    )
    pytester.makepyfile(
        """
        import aiohttp
        import pytest
        import pytest_asyncio

        @pytest.mark.asyncio
        async def test_forgets_to_close_the_session():
            session = aiohttp.ClientSession()
            assert not session.closed

        class Client:
            def __init__(self):
                self.session = aiohttp.ClientSession()
                self.me = self  # a reference cycle: only the garbage collector frees it

        @pytest.mark.asyncio
        async def test_forgets_to_close_a_session_held_in_a_cycle():
            assert not Client().session.closed

        @pytest_asyncio.fixture
        async def session():
            async with aiohttp.ClientSession() as session:
                yield session

        @pytest.mark.asyncio
        async def test_uses_a_fixture_that_closes_it(session):
            assert not session.closed
        """
    )

    result = pytester.runpytest(*LEAN, "--tb=short")

    # The cycle's test body passes; its leak is reported at teardown, when collect_garbage frees it.
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_forgets_to_close_a_session_held_in_a_cycle _*",
            "E   ResourceWarning: Unclosed client session <aiohttp.client.ClientSession object at 0x*>",
            "*_ test_forgets_to_close_the_session _*",
            "E   ResourceWarning: Unclosed client session <aiohttp.client.ClientSession object at 0x*>",
            "E   pytest.PytestUnraisableExceptionWarning: Exception ignored in: <function ClientSession.__del__ *>",
        ]
    )


def test_a_coroutine_that_is_never_awaited_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        """
        import pytest

        class Connection:
            closed = False

            async def close(self):
                self.closed = True

        @pytest.mark.asyncio
        async def test_forgets_await():
            connection = Connection()
            connection.close()  # builds a coroutine and drops it: nothing runs
            assert not connection.closed

        @pytest.mark.asyncio
        async def test_awaits():
            connection = Connection()
            await connection.close()
            assert connection.closed
        """
    )

    result = pytester.runpytest(*LEAN, "--tb=short")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_forgets_await _*",
            "E   RuntimeWarning: coroutine 'Connection.close' was never awaited",
            "E   pytest.PytestUnraisableExceptionWarning: Exception ignored in: <coroutine object Connection.close *>",
        ]
    )


def test_a_task_left_running_passes_silently_unless_a_fixture_checks(pytester: pytest.Pytester) -> None:
    # The sandbox's conftest is the no_leaked_tasks fixture of test_poller.py, without its comments.
    pytester.makeini(SANDBOX_INI)
    pytester.makeconftest(
        """
        import asyncio

        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def no_leaked_tasks():
            before = asyncio.all_tasks()
            yield
            leftover = asyncio.all_tasks() - before - {asyncio.current_task()}
            if not leftover:
                return
            _, still_running = await asyncio.wait(leftover, timeout=0.05)
            if still_running:
                for task in still_running:
                    task.cancel()
                await asyncio.wait(still_running, timeout=2)
                names = ", ".join(sorted(task.get_name() for task in still_running))
                pytest.fail(f"the test left {len(still_running)} task(s) running: {names}", pytrace=False)
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def heartbeat():
            while True:
                await asyncio.sleep(3600)

        @pytest.mark.asyncio
        async def test_leaks_unchecked():
            asyncio.create_task(heartbeat(), name="forgotten-heartbeat")

        @pytest.mark.asyncio
        async def test_leaks_checked(no_leaked_tasks):
            asyncio.create_task(heartbeat(), name="forgotten-heartbeat")

        @pytest.mark.asyncio
        async def test_cleans_up(no_leaked_tasks):
            task = asyncio.create_task(heartbeat(), name="tidy-heartbeat")
            task.cancel()
            await asyncio.wait([task])
        """
    )

    result = pytester.runpytest(*LEAN, "--tb=short")

    # The unchecked leak passes: pytest-asyncio quietly cancels the task when it closes the loop.
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_leaks_checked _*",
            "the test left 1 task(s) running: forgotten-heartbeat",
            "ERROR *::test_leaks_checked*",
        ]
    )
