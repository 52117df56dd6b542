"""The forgotten `await`, reproduced in a throwaway project."""

import pytest

pytest_plugins = ["pytester"]


def test_forgetting_await_fails_with_a_confusing_type_error(pytester: pytest.Pytester) -> None:
    # Without `await` the test holds a coroutine object, not the result.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import pytest

        async def fetch_status():
            return {"status": "ok"}

        @pytest.mark.asyncio
        async def test_forgot_await():
            result = fetch_status()
            assert result["status"] == "ok"

        @pytest.mark.asyncio
        async def test_awaited():
            result = await fetch_status()
            assert result["status"] == "ok"
        """
    )
    # In a subprocess: the failing test keeps its never-awaited coroutine alive
    # (sys.last_traceback), and it must not be collected in a later test of ours.
    result = pytester.runpytest_subprocess(
        "--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["E       TypeError: 'coroutine' object is not subscriptable"])
    # Python adds a warning when the coroutine is collected; where it lands depends on when that is.
    assert "RuntimeWarning: coroutine 'fetch_status' was never awaited" in result.stdout.str() + result.stderr.str()
