"""Sync and async mixed the wrong way, each with the exact error (or the silence) it gives.

Every sandbox runs in a fresh interpreter (runpytest_subprocess): what `get_event_loop()`
does depends on what ran before it in the process, and the wrong code leaves coroutines
that are never awaited, which must not be collected inside this run's other tests.
"""

import asyncio
import inspect
import sys

import pytest

pytest_plugins = ["pytester"]

# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
FAST = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]
SANDBOX_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
FACADES = """
import asyncio

async def fetch(symbol):
    await asyncio.sleep(0)  # any real I/O suspends like this
    return 1.0842

def fetch_sync(symbol):  # a sync facade that runs a loop of its own
    return asyncio.run(fetch(symbol))

def fetch_sync_old(symbol):  # the same, written before asyncio.run existed
    return asyncio.get_event_loop().run_until_complete(fetch(symbol))
"""


def test_get_event_loop_in_sync_code_depends_on_the_python_version_and_the_test_order(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        facades=FACADES,
        test_loop_fixtures="""
        import asyncio
        import pytest
        from facades import fetch, fetch_sync, fetch_sync_old

        @pytest.fixture
        def loop():  # the old way: whatever loop the thread has, or a new one
            loop = asyncio.get_event_loop()
            yield loop
            loop.close()

        @pytest.fixture
        def runner():  # the fix: a loop of its own on every Python, closed at teardown
            with asyncio.Runner() as runner:
                yield runner

        def test_1_get_event_loop_in_a_fresh_process(loop):
            assert loop.run_until_complete(fetch("EURUSD")) == 1.0842

        @pytest.mark.asyncio
        async def test_2_any_async_test():  # its loop is set as current, then unset when it closes
            assert await fetch("EURUSD") == 1.0842

        def test_3_get_event_loop_after_an_async_test(loop):
            assert loop.run_until_complete(fetch("EURUSD")) == 1.0842

        def test_4_sync_code_calling_get_event_loop_after_an_async_test():
            assert fetch_sync_old("EURUSD") == 1.0842

        def test_5_a_runner_after_an_async_test(runner):
            assert runner.run(fetch("EURUSD")) == 1.0842

        def test_6_asyncio_run_after_an_async_test():
            assert fetch_sync("EURUSD") == 1.0842
        """,
    )
    result = pytester.runpytest_subprocess(*FAST)

    if sys.version_info < (3, 12):
        # 3.11 quietly makes a loop and sets it as current: test 1 passes (when it runs first).
        result.stdout.fnmatch_lines(["test_loop_fixtures.py ..EF.. *"])
    else:
        # 3.12 and 3.13 still make one, but warn first: under filterwarnings = error, test 1 errors.
        result.stdout.fnmatch_lines(
            [
                "test_loop_fixtures.py E.EF.. *",
                "*_ ERROR at setup of test_1_get_event_loop_in_a_fresh_process _*",
                "E * DeprecationWarning: There is no current event loop",
            ]
        )
    # Once a loop was set and unset (by an async test, asyncio.run, a Runner), every version refuses.
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_3_get_event_loop_after_an_async_test _*",
            "E * RuntimeError: There is no current event loop in thread 'MainThread'.",
            "*_ test_4_sync_code_calling_get_event_loop_after_an_async_test _*",
            "E * RuntimeError: There is no current event loop in thread 'MainThread'.",
        ]
    )


def test_an_async_test_cannot_call_a_facade_that_runs_its_own_loop(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        facades=FACADES,
        test_facades_in_a_loop="""
        import asyncio
        import pytest
        from facades import fetch_sync, fetch_sync_old

        @pytest.mark.asyncio
        async def test_asyncio_run_inside_the_tests_loop():
            assert fetch_sync("EURUSD") == 1.0842

        @pytest.mark.asyncio
        async def test_run_until_complete_inside_the_tests_loop():
            assert fetch_sync_old("EURUSD") == 1.0842  # get_event_loop() returns the running loop

        @pytest.mark.asyncio
        async def test_the_old_facade_in_a_thread():  # no thread but the main one ever gets a loop made
            assert await asyncio.to_thread(fetch_sync_old, "EURUSD") == 1.0842

        @pytest.mark.asyncio
        async def test_the_asyncio_run_facade_in_a_thread():  # the fix, when the sync call must stay
            assert await asyncio.to_thread(fetch_sync, "EURUSD") == 1.0842
        """,
    )
    result = pytester.runpytest_subprocess(*FAST)

    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*_ test_asyncio_run_inside_the_tests_loop _*",
            "E * RuntimeError: asyncio.run() cannot be called from a running event loop",
            "*_ test_run_until_complete_inside_the_tests_loop _*",
            "E * RuntimeError: This event loop is already running",
            "*_ test_the_old_facade_in_a_thread _*",
            "E * RuntimeError: There is no current event loop in thread 'asyncio_0'.",
        ]
    )


async def fetch_price() -> float:
    return 1.0842


@pytest.mark.asyncio
async def test_asyncio_run_in_a_running_loop_never_awaits_the_coroutine_it_was_handed() -> None:
    handed = fetch_price()
    with pytest.raises(RuntimeError, match=r"^asyncio\.run\(\) cannot be called from a running event loop$"):
        asyncio.run(handed)
    assert inspect.getcoroutinestate(handed) == inspect.CORO_CREATED  # refused before its first step

    # Dropped, it warns when it is collected: in a real suite, in whichever test that happens to be.
    with pytest.warns(RuntimeWarning, match=r"^coroutine 'fetch_price' was never awaited$"):
        del handed


def test_async_methods_on_a_plain_test_case_pass_without_running(pytester: pytest.Pytester) -> None:
    # Default warnings, as most projects have them; auto mode, to show it does not help either.
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        facades=FACADES,
        test_unittest_classes="""
        import unittest
        import pytest
        from facades import fetch

        class TestQuotes(unittest.TestCase):
            @pytest.mark.asyncio  # no help: pytest-asyncio leaves unittest classes alone
            async def test_fetch(self):
                assert await fetch("EURUSD") == 0, "this never runs"

        @pytest.mark.filterwarnings("error")
        class TestQuotesWarningsAsErrors(unittest.TestCase):
            async def test_fetch(self):
                assert await fetch("EURUSD") == 0, "this never runs"

        class TestQuotesIsolated(unittest.IsolatedAsyncioTestCase):  # the fix
            async def test_fetch(self):
                assert await fetch("EURUSD") == 0, "this one runs"
        """,
    )
    result = pytester.runpytest_subprocess(*FAST, "-rA")

    result.assert_outcomes(passed=1, failed=2, warnings=2)
    deprecated = "DeprecationWarning: It is deprecated to return a value that is not None from a test case"
    result.stdout.fnmatch_lines(
        [
            # Warnings as errors turn the returned coroutine into a failure...
            "*_ TestQuotesWarningsAsErrors.test_fetch _*",
            f"E * {deprecated} (<bound method TestQuotesWarningsAsErrors.test_fetch of <*>>)",
            # ...IsolatedAsyncioTestCase awaits the method, so its assertion fails as it should...
            "*_ TestQuotesIsolated.test_fetch _*",
            "E * AssertionError: this one runs",
            # ...and with default warnings the method that never ran "passes", with two warnings.
            "*= warnings summary =*",
            "test_unittest_classes.py::TestQuotes::test_fetch",
            "*: RuntimeWarning: coroutine 'TestQuotes.test_fetch' was never awaited",
            f"*: {deprecated} (<bound method TestQuotes.test_fetch of <*TestQuotes testMethod=test_fetch>>)",
            "PASSED test_unittest_classes.py::TestQuotes::test_fetch",
        ]
    )
