"""The hook's rules and the doc's old way, each run in a sandbox with the message users see."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SANDBOX_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
LEAN = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]
ASYNC_TEST = "import pytest\n\n@pytest.mark.asyncio{}\nasync def test_async():\n    pass\n"


def test_the_hook_applies_to_its_own_folder_only_and_must_return_factories(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    inside = pytester.mkpydir("inside")  # with this recipe's conftest.py
    (inside / "conftest.py").write_text(Path(__file__).with_name("conftest.py").read_text())
    (inside / "test_inside.py").write_text(
        ASYNC_TEST.format("")
        + "\ndef test_sync():\n    pass\n"
        + "\n@pytest.mark.asyncio(loop_factories=['trio'])\nasync def test_unknown_factory():\n    pass\n"
    )
    # The tempting "return None to keep the default loop": the hook must always answer
    # with factories, so a switch must decide whether to define the hook at all.
    switch = pytester.mkpydir("switch")
    (switch / "conftest.py").write_text(
        "import os\nimport uvloop\n\n"
        "def pytest_asyncio_loop_factories(config, item):\n"
        "    if os.environ.get('USE_UVLOOP'):\n"
        "        return {'uvloop': uvloop.new_event_loop}\n"
        "    return None\n"
    )
    (switch / "test_switch.py").write_text(ASYNC_TEST.format(""))
    pytester.makepyfile(
        test_outside=ASYNC_TEST.format(""),
        test_outside_marked=ASYNC_TEST.format("(loop_factories=['uvloop'])"),
    )

    result = pytester.runpytest(*LEAN, "-v", "-rs", "--continue-on-collection-errors")

    result.assert_outcomes(passed=4, skipped=1, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "inside/test_inside.py::test_async?asyncio? PASSED*",
            "inside/test_inside.py::test_async?uvloop? PASSED*",
            "inside/test_inside.py::test_sync PASSED*",
            "*Loop factory 'trio' is not available. Available factories: asyncio, uvloop.",
            "test_outside.py::test_async PASSED*",
            "test_outside_marked.py::test_async: mark.asyncio 'loop_factories' requires at least one"
            " pytest_asyncio_loop_factories hook implementation.",
            "*UsageError: pytest_asyncio_loop_factories must return a non-empty mapping of factory names to callables.",
        ]
    )


def test_the_docs_event_loop_policy_override_still_works_but_is_deprecated(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        test_policy="""
        import asyncio
        import pytest
        import uvloop

        @pytest.fixture(scope="session")
        def event_loop_policy():
            return uvloop.EventLoopPolicy()

        @pytest.mark.asyncio
        async def test_runs_on_uvloop():
            assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        """
    )

    result = pytester.runpytest(*LEAN)

    result.assert_outcomes(passed=1)  # on uvloop, with a warning (an error under filterwarnings = error)
    result.stdout.fnmatch_lines(
        [
            '*PytestDeprecationWarning: Overriding the "event_loop_policy" fixture is deprecated and will be removed'
            ' in a future version of pytest-asyncio. Use the "pytest_asyncio_loop_factories" hook to customize'
            " event loop creation."
        ]
    )
