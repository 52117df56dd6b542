"""What a plain run does not tell you, each in a sandbox with the recipe's own conftest.py and signup.py."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent
SANDBOX_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
LEAN = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]


def test_leftover_tasks_fail_the_test_with_their_names_and_where_they_wait(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makeconftest((HERE / "conftest.py").read_text())
    pytester.makepyfile(signup=(HERE / "signup.py").read_text())
    pytester.makepyfile(
        test_leak="""
        import asyncio
        import pytest
        from signup import BackgroundTasks, SignUp

        async def never_sends(to, body):
            await asyncio.Event().wait()

        @pytest.mark.asyncio
        async def test_forgets_to_close():
            service = SignUp(never_sends, BackgroundTasks(), iterations=1000)
            await service.sign_up("ann@example.com", "correct horse")

        @pytest.mark.asyncio
        async def test_closes():
            background = BackgroundTasks()
            service = SignUp(never_sends, background, iterations=1000)
            await service.sign_up("ann@example.com", "correct horse")
            await background.aclose(grace=0.01)
        """
    )

    result = pytester.runpytest(*LEAN)

    # Without the conftest both pass: pytest-asyncio's loop teardown cancels the task silently.
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_forgets_to_close*",
            "*the test left 1 task(s) pending: welcome-email:ann@example.com (waiting at *test_leak.py:6)",
        ]
    )


FORGOTTEN_AWAIT = """
import pytest
from signup import BackgroundTasks

@pytest.mark.asyncio
async def test_stops_the_service():
    background = BackgroundTasks()
    background.aclose(grace=5)
"""


def test_without_debug_mode_a_never_awaited_coroutine_does_not_say_where_it_came_from(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(signup=(HERE / "signup.py").read_text(), test_forgot=FORGOTTEN_AWAIT)

    result = pytester.runpytest(*LEAN, "--tb=short")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeWarning: coroutine 'BackgroundTasks.aclose' was never awaited"])
    result.stdout.no_fnmatch_line("*Coroutine created at*")


def test_debug_mode_shows_where_a_never_awaited_coroutine_was_created(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(signup=(HERE / "signup.py").read_text(), test_forgot=FORGOTTEN_AWAIT)

    result = pytester.runpytest(*LEAN, "--tb=short", "--asyncio-debug")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "asyncio: mode=*debug=True*",
            "*RuntimeWarning: coroutine 'BackgroundTasks.aclose' was never awaited",
            "*Coroutine created at (most recent call last)",
            '*File "*test_forgot.py", line 7, in test_stops_the_service',
            "*background.aclose(grace=5)",
            "*PytestUnraisableExceptionWarning: Exception ignored in: <coroutine object BackgroundTasks.aclose at *>",
        ]
    )
