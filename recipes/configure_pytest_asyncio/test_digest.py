"""Configure pytest-asyncio once, and see what each wrong setting does to a real test run.

The first tests exercise `digest_stream` directly. The rest build throwaway
projects with `pytester`, each holding a copy of `digest.py`, and run pytest on
them with one configuration or another.
"""

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from .digest import Chunk, digest_stream

HELLO_SHA256 = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"  # sha256(b"hello world")
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # sha256(b"")
DIGEST_SOURCE = Path(__file__).with_name("digest.py").read_text()


async def chunks_of(*chunks: Chunk, read: list[int] | None = None) -> AsyncGenerator[Chunk, None]:
    """An async stream that suspends before each chunk, like a socket read, and counts what was read."""
    for chunk in chunks:
        await asyncio.sleep(0)
        if read is not None:
            read.append(len(chunk))
        yield chunk


@pytest_asyncio.fixture
async def hello_stream() -> AsyncIterator[AsyncGenerator[Chunk, None]]:
    """An async fixture in the style that works in strict and auto mode: `@pytest_asyncio.fixture`."""
    stream = chunks_of(b"hello", b" ", b"world")
    yield stream
    await stream.aclose()  # closed even if a test stops reading early


# --- The module, tested directly -------------------------------------------------------


@pytest.mark.asyncio
async def test_digest_of_a_chunked_stream_equals_the_digest_of_the_whole_payload(
    hello_stream: AsyncGenerator[Chunk, None],
) -> None:
    assert await digest_stream(hello_stream) == HELLO_SHA256


@pytest.mark.asyncio
async def test_an_empty_stream_has_the_digest_of_no_bytes() -> None:
    assert await digest_stream(chunks_of()) == EMPTY_SHA256


@pytest.mark.asyncio
async def test_bytearray_and_memoryview_chunks_are_hashed_like_bytes() -> None:
    assert await digest_stream(chunks_of(bytearray(b"hello "), memoryview(b"world"))) == HELLO_SHA256


@pytest.mark.asyncio
async def test_the_requested_algorithm_is_used() -> None:
    assert await digest_stream(chunks_of(b"hello world"), "md5") == "5eb63bbbe01eeed093cb22bb8f5acdc3"


@pytest.mark.parametrize("algorithm", ["sha257", "", None])
@pytest.mark.asyncio
async def test_an_unknown_algorithm_is_refused_before_any_chunk_is_read(algorithm: str) -> None:
    read: list[int] = []

    with pytest.raises(ValueError, match=r"unknown hash algorithm .*; use one of: ") as excinfo:
        await digest_stream(chunks_of(b"data", read=read), algorithm)
    assert read == []
    # The error lists every fixed-size algorithm, and not the variable-length shake ones.
    offered = str(excinfo.value).rsplit("use one of: ", 1)[1].split(", ")
    assert offered == sorted(offered)
    assert {"md5", "sha1", "sha256", "sha512"} <= set(offered)
    assert not {name for name in offered if name.startswith("shake")}


@pytest.mark.asyncio
async def test_a_variable_length_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="'shake_128' has no fixed digest size"):
        await digest_stream(chunks_of(b"data"), "shake_128")


@pytest.mark.asyncio
async def test_a_chunk_that_is_not_bytes_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="chunks must be bytes, got str: 'text'"):
        await digest_stream(chunks_of(b"ok", "text"))  # type: ignore[arg-type]  # the point of the test


# --- The configuration, tested in sandboxes --------------------------------------------

SANDBOX_TESTS = """
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

# Plugins the sandboxes do not need, switched off to keep each in-process run fast.
QUIET_PLUGINS = ("-p", "no:randomly", "-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:aiohttp")


def sandbox(pytester: pytest.Pytester, tests: str) -> None:
    """A project with its own copy of digest.py and one test file; the config file is up to the caller."""
    pytester.makepyfile(digest=DIGEST_SOURCE)
    pytester.makepyfile(test_sandbox=SANDBOX_TESTS + tests)


RECOMMENDED_SETTINGS = """
asyncio_mode = "auto"  # a TOML file may carry a comment after the value
asyncio_default_fixture_loop_scope = "function"
asyncio_default_test_loop_scope = "function"
"""


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

    @pytest.mark.asyncio
    async def test_marked_async_test():
        assert await digest_stream(hello()) == HELLO_SHA256
    """,
    )

    result = pytester.runpytest(*QUIET_PLUGINS, "-W", "error")  # any warning, such as an unset option, fails the run

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "asyncio: mode=Mode.AUTO, debug=False, "
            "asyncio_default_fixture_loop_scope=function, asyncio_default_test_loop_scope=function"
        ]
    )


def test_inline_comment_in_pytest_ini_is_a_usage_error(pytester: pytest.Pytester) -> None:
    sandbox(pytester, ONE_UNMARKED_TEST)
    # ini files have no inline comments: the comment becomes part of the value.
    pytester.makefile(
        ".ini", pytest="[pytest]\nasyncio_mode = auto  # recommended\nasyncio_default_fixture_loop_scope = function\n"
    )

    broken = pytester.runpytest(*QUIET_PLUGINS)

    assert broken.ret == pytest.ExitCode.USAGE_ERROR
    broken.stderr.fnmatch_lines(
        ["ERROR: 'auto  # recommended' is not a valid asyncio_mode. Valid modes: auto, strict."]
    )

    pytester.makefile(
        ".ini", pytest="[pytest]\n# recommended\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.runpytest(*QUIET_PLUGINS).assert_outcomes(passed=1)


def test_strict_mode_fails_an_unmarked_async_test_without_running_it(pytester: pytest.Pytester) -> None:
    # No asyncio_mode at all: strict is the default.
    pytester.makefile(".ini", pytest="[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    sandbox(
        pytester,
        """
    async def test_unmarked():
        raise AssertionError("the body of the unmarked test ran")

    @pytest.mark.asyncio
    async def test_marked():
        assert await digest_stream(hello()) == HELLO_SHA256
    """,
    )

    result = pytester.runpytest(*QUIET_PLUGINS, "-W", "error")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "asyncio: mode=Mode.STRICT, *",
            "*_ test_unmarked _*",
            "async def functions are not natively supported.",
            "You need to install a suitable plugin for your async framework, for example:",
        ]
    )
    result.stdout.no_fnmatch_line("*the body of the unmarked test ran*")


def test_async_pytest_fixture_is_an_error_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest="[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    sandbox(
        pytester,
        """
    @pytest.fixture
    async def plain_digest():
        return await digest_stream(hello())

    @pytest_asyncio.fixture
    async def asyncio_digest():
        return await digest_stream(hello())

    @pytest.mark.asyncio
    async def test_with_plain_fixture(plain_digest):
        assert plain_digest == HELLO_SHA256

    @pytest.mark.asyncio
    async def test_with_asyncio_fixture(asyncio_digest):
        assert asyncio_digest == HELLO_SHA256
    """,
    )

    result = pytester.runpytest(*QUIET_PLUGINS, "-W", "error")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_with_plain_fixture*",
            "'test_with_plain_fixture' requested an async fixture 'plain_digest', with no plugin or hook that "
            "handled it. This is an error, as pytest does not natively support it.",
        ]
    )


def test_unset_fixture_loop_scope_prints_a_deprecation_warning(pytester: pytest.Pytester) -> None:
    sandbox(pytester, ONE_UNMARKED_TEST)
    pytester.makefile(".ini", pytest="[pytest]\nasyncio_mode = auto\n")

    # In a terminal the warning is printed above the session header; run in-process,
    # as here, it reaches this test as a warning object, with the same text.
    unset_warning = 'The configuration option "asyncio_default_fixture_loop_scope" is unset.'
    with pytest.warns(pytest.PytestDeprecationWarning, match=f"^{re.escape(unset_warning)}\n"):
        unset = pytester.runpytest(*QUIET_PLUGINS)

    # The run still passes, so the warning is easy to scroll past. With the option set,
    # as in the recommended config above, the same tests pass under `-W error`.
    unset.assert_outcomes(passed=1)
    unset.stdout.fnmatch_lines(["asyncio: mode=Mode.AUTO, debug=False, asyncio_default_fixture_loop_scope=None, *"])


def test_code_written_for_the_removed_event_loop_fixture_errors(pytester: pytest.Pytester) -> None:
    # Tests from before pytest-asyncio 1.0 asked for `event_loop`; the fixture is gone.
    sandbox(
        pytester,
        """
    def test_old_style(event_loop):
        assert event_loop.run_until_complete(digest_stream(hello())) == HELLO_SHA256

    async def test_new_style():
        assert await digest_stream(hello()) == HELLO_SHA256
    """,
    )
    pytester.makepyprojecttoml("[tool.pytest.ini_options]" + RECOMMENDED_SETTINGS)

    result = pytester.runpytest(*QUIET_PLUGINS)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["E       fixture 'event_loop' not found"])


def test_an_asyncio_mark_on_a_sync_test_warns(pytester: pytest.Pytester) -> None:
    # A module-wide `pytestmark = pytest.mark.asyncio` also lands on the file's sync tests.
    sandbox(
        pytester,
        """
    import pytest

    pytestmark = pytest.mark.asyncio

    async def test_async():
        assert await digest_stream(hello()) == HELLO_SHA256

    def test_sync():
        assert len(HELLO_SHA256) == 64
    """,
    )
    pytester.makepyprojecttoml("[tool.pytest.ini_options]" + RECOMMENDED_SETTINGS + 'filterwarnings = ["error"]\n')

    result = pytester.runpytest(*QUIET_PLUGINS)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *pytest.PytestWarning: The test <Function test_sync> is marked with '@pytest.mark.asyncio' but it is "
            "not an async function. Please remove the asyncio mark. If the test is not marked explicitly, check for "
            "global marks applied via 'pytestmark'."
        ]
    )
