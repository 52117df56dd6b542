"""The wrong ways to share an async fixture, each run in a sandbox with the error text users see."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
LEAN = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]

# The doc's pattern: a plain @pytest.fixture on an async generator, scope="session".
DOC_PATTERN = """
import pytest

class Service:
    async def close(self):
        pass

@pytest.fixture(scope="session")
async def service():
    running = Service()
    yield running
    await running.close()

@pytest.mark.asyncio
async def test_service_is_there(service):
    assert service is not None
"""


def test_the_docs_session_fixture_is_refused_in_strict_mode(pytester: pytest.Pytester) -> None:
    # Strict mode is pytest-asyncio's default: pytest itself refuses an async @pytest.fixture.
    pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_doc=DOC_PATTERN)

    result = pytester.runpytest(*LEAN)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*requested an async fixture 'service', with no plugin or hook that handled it."
            " This is an error, as pytest does not natively support it.*"
        ]
    )


def test_the_docs_session_fixture_is_a_scope_mismatch_in_auto_mode(pytester: pytest.Pytester) -> None:
    # Auto mode takes the fixture, but runs it on the default fixture loop scope: function.
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_doc=DOC_PATTERN)

    result = pytester.runpytest(*LEAN)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ScopeMismatch: You tried to access the function scoped fixture _function_scoped_runner"
            " with a session scoped request object*"
        ]
    )


def test_a_session_loop_fixture_used_from_a_function_loop_test_fails(pytester: pytest.Pytester) -> None:
    # The service's futures belong to the session loop; a test on its own function
    # loop cannot await them. The same test marked with the session loop passes.
    pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(sandbox_translator=Path(__file__).with_name("translator.py").read_text())
    pytester.makepyfile(
        test_mismatch="""
        import pytest
        import pytest_asyncio
        from sandbox_translator import Translator

        @pytest_asyncio.fixture(scope="session", loop_scope="session")
        async def shared():
            translator = Translator({"hello": "hallo"})
            await translator.start()
            yield translator
            await translator.stop()

        @pytest.mark.asyncio
        async def test_on_the_function_loop(shared):
            await shared.translate("hello")

        @pytest.mark.asyncio(loop_scope="session")
        async def test_on_the_session_loop(shared):
            assert await shared.translate("hello") == "hallo"
        """
    )

    result = pytester.runpytest(*LEAN)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*RuntimeError: Task * got Future <Future pending> attached to a different loop",
            "FAILED test_mismatch.py::test_on_the_function_loop - RuntimeError: Task *",
        ]
    )
