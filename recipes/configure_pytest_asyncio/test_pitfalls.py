"""Each wrong setting, run in a throwaway project that holds a copy of digest.py, next to the fix."""

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DIGEST_SOURCE = Path(__file__).with_name("digest.py").read_text()
# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
FAST = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]

SANDBOX_HEADER = """
    import pytest
    import pytest_asyncio

    from digest import digest_stream

    HELLO_SHA256 = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"

    async def hello():
        yield b"hello "
        yield b"world"
"""
ONE_UNMARKED_TEST = """
    async def test_unmarked():
        assert await digest_stream(hello()) == HELLO_SHA256
"""
RECOMMENDED_SETTINGS = """
asyncio_mode = "auto"  # a TOML file may carry a comment after the value
asyncio_default_fixture_loop_scope = "function"
asyncio_default_test_loop_scope = "function"
"""


def sandbox(pytester: pytest.Pytester, tests: str) -> None:
    """A project with its own copy of digest.py and one test file; the config file is up to the caller."""
    pytester.makepyfile(digest=DIGEST_SOURCE, test_sandbox=SANDBOX_HEADER + tests)


@pytest.mark.parametrize("table", ["[tool.pytest]", "[tool.pytest.ini_options]"])
def test_recommended_pyproject_config_runs_unmarked_async_tests_and_fixtures(
    pytester: pytest.Pytester, table: str
) -> None:
    pytester.makepyprojecttoml(table + RECOMMENDED_SETTINGS)
    sandbox(
        pytester,
        """
    @pytest.fixture
    async def digest():
        return await digest_stream(hello())

    async def test_unmarked_async_test(digest):
        assert digest == HELLO_SHA256
    """,
    )

    result = pytester.runpytest(*FAST, "-W", "error")  # any warning, such as an unset option, fails the run

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "asyncio: mode=Mode.AUTO, debug=False, "
            "asyncio_default_fixture_loop_scope=function, asyncio_default_test_loop_scope=function"
        ]
    )


def test_inline_comment_in_pytest_ini_is_a_usage_error(pytester: pytest.Pytester) -> None:
    sandbox(pytester, ONE_UNMARKED_TEST)
    # ini files have no end-of-line comments: the comment becomes part of the value.
    pytester.makeini("[pytest]\nasyncio_mode = auto  # recommended\nasyncio_default_fixture_loop_scope = function\n")

    broken = pytester.runpytest(*FAST)

    assert broken.ret == pytest.ExitCode.USAGE_ERROR
    broken.stderr.fnmatch_lines(
        ["ERROR: 'auto  # recommended' is not a valid asyncio_mode. Valid modes: auto, strict."]
    )

    pytester.makeini("[pytest]\n# recommended\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.runpytest(*FAST).assert_outcomes(passed=1)


def test_strict_mode_fails_unmarked_async_tests_and_async_pytest_fixtures(pytester: pytest.Pytester) -> None:
    # No asyncio_mode at all: strict is the default.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    sandbox(
        pytester,
        """
    async def test_unmarked():
        raise AssertionError("the body of the unmarked test ran")

    @pytest.fixture
    async def plain_digest():
        return await digest_stream(hello())

    @pytest.mark.asyncio
    async def test_with_plain_fixture(plain_digest):
        assert plain_digest == HELLO_SHA256

    @pytest_asyncio.fixture
    async def asyncio_digest():
        return await digest_stream(hello())

    @pytest.mark.asyncio
    async def test_the_fix(asyncio_digest):
        assert asyncio_digest == HELLO_SHA256
    """,
    )

    result = pytester.runpytest(*FAST, "-W", "error")

    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "asyncio: mode=Mode.STRICT, *",
            "*ERROR at setup of test_with_plain_fixture*",
            "'test_with_plain_fixture' requested an async fixture 'plain_digest', with no plugin or hook that "
            "handled it. This is an error, as pytest does not natively support it.",
            "*_ test_unmarked _*",
            "async def functions are not natively supported.",
            "You need to install a suitable plugin for your async framework, for example:",
        ]
    )
    result.stdout.no_fnmatch_line("*the body of the unmarked test ran*")


def test_unset_fixture_loop_scope_prints_a_deprecation_warning(pytester: pytest.Pytester) -> None:
    sandbox(pytester, ONE_UNMARKED_TEST)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")

    # In a terminal the warning is printed above the session header; run in-process,
    # as here, it reaches this test as a warning object, with the same text.
    unset_warning = 'The configuration option "asyncio_default_fixture_loop_scope" is unset.'
    with pytest.warns(pytest.PytestDeprecationWarning, match=f"^{re.escape(unset_warning)}\n"):
        unset = pytester.runpytest(*FAST)

    # The run still passes, so the warning is easy to scroll past until a release changes the default.
    unset.assert_outcomes(passed=1)
    unset.stdout.fnmatch_lines(["asyncio: mode=Mode.AUTO, debug=False, asyncio_default_fixture_loop_scope=None, *"])


def test_code_written_for_the_removed_event_loop_fixture_errors(pytester: pytest.Pytester) -> None:
    # Tests from before pytest-asyncio 1.0 asked for `event_loop`; the fixture is gone.
    pytester.makepyprojecttoml("[tool.pytest.ini_options]" + RECOMMENDED_SETTINGS)
    sandbox(
        pytester,
        """
    def test_old_style(event_loop):
        assert event_loop.run_until_complete(digest_stream(hello())) == HELLO_SHA256

    async def test_new_style():
        assert await digest_stream(hello()) == HELLO_SHA256
    """,
    )

    result = pytester.runpytest(*FAST)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["E       fixture 'event_loop' not found"])


def test_an_asyncio_mark_on_a_sync_test_warns(pytester: pytest.Pytester) -> None:
    # A module-wide `pytestmark = pytest.mark.asyncio` also lands on the file's sync tests.
    pytester.makepyprojecttoml("[tool.pytest.ini_options]" + RECOMMENDED_SETTINGS + 'filterwarnings = ["error"]\n')
    sandbox(
        pytester,
        """
    pytestmark = pytest.mark.asyncio

    async def test_async():
        assert await digest_stream(hello()) == HELLO_SHA256

    def test_sync():
        assert len(HELLO_SHA256) == 64
    """,
    )

    result = pytester.runpytest(*FAST)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *pytest.PytestWarning: The test <Function test_sync> is marked with '@pytest.mark.asyncio' but it is "
            "not an async function. Please remove the asyncio mark. If the test is not marked explicitly, check for "
            "global marks applied via 'pytestmark'."
        ]
    )
