"""Start an expensive service once per session (or module) and use it on the loop it was started on."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from .translator import MAX_TEXT_LENGTH, ServiceNotRunningError, StartCounter, Translator

DICTIONARY = {"hello": "hallo", "world": "Welt", "cat": "Katze"}
NOT_RUNNING = r"^translator is not running: await start\(\) first$"


# The counters are plain (sync) fixtures with the same scope as the service they
# count. A service fixture that ran more often than its scope allows, for example
# because someone dropped `scope=`, would push its counter past 1.
@pytest.fixture(scope="session")
def session_counter() -> StartCounter:
    return StartCounter()


@pytest.fixture(scope="module")
def module_counter() -> StartCounter:
    return StartCounter()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_translator(session_counter: StartCounter) -> AsyncIterator[Translator]:
    """One translator for the whole run, started on the session-wide event loop."""
    translator = Translator(DICTIONARY, session_counter)
    await translator.start()
    yield translator
    await translator.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_translator(module_counter: StartCounter) -> AsyncIterator[Translator]:
    """One translator for the tests of this file, started on this module's event loop."""
    translator = Translator({"hello": "bonjour"}, module_counter)
    await translator.start()
    yield translator
    await translator.stop()


@pytest_asyncio.fixture
async def translator() -> AsyncIterator[Translator]:
    """A fresh translator per test, for the tests that stop it or break it."""
    fresh = Translator(DICTIONARY)
    await fresh.start()
    yield fresh
    await fresh.stop()


# Session-scoped service, session loop ----------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_session_fixture_was_started_on_the_loop_this_test_runs_on(shared_translator: Translator) -> None:
    assert shared_translator.loop is asyncio.get_running_loop()


@pytest.mark.parametrize("text", ["hello world", "Cat", "hello stranger"])
@pytest.mark.asyncio(loop_scope="session")
async def test_session_fixture_is_started_once_however_many_tests_use_it(
    shared_translator: Translator, session_counter: StartCounter, text: str
) -> None:
    # Holds alone, in any order, and on every xdist worker: each process starts
    # the session fixture exactly once, however many of these tests it runs.
    await shared_translator.translate(text)
    assert (session_counter.starts, session_counter.stops) == (1, 0)


@pytest.mark.asyncio(loop_scope="session")
async def test_session_fixture_translates_word_by_word(shared_translator: Translator) -> None:
    assert await shared_translator.translate("Hello  cat") == "hallo Katze"
    assert await shared_translator.translate("hello stranger") == "hallo stranger"


# Module-scoped service, module loop ------------------------------------------


@pytest.mark.asyncio(loop_scope="module")
async def test_module_fixture_was_started_on_this_modules_loop(module_translator: Translator) -> None:
    assert module_translator.loop is asyncio.get_running_loop()
    assert await module_translator.translate("hello") == "bonjour"


@pytest.mark.parametrize("run", ["first", "second"])
@pytest.mark.asyncio(loop_scope="module")
async def test_module_fixture_is_started_once_per_module(
    module_translator: Translator, module_counter: StartCounter, run: str
) -> None:
    assert await module_translator.translate(run) == run  # not in the dictionary: kept as it is
    assert (module_counter.starts, module_counter.stops) == (1, 0)


# A fresh service per test, function loop: start, stop and errors ------------


@pytest.mark.asyncio
async def test_stop_counts_once_and_a_second_stop_is_harmless(translator: Translator) -> None:
    await translator.stop()
    await translator.stop()

    assert (translator.counter.starts, translator.counter.stops) == (1, 1)


@pytest.mark.asyncio
async def test_a_counter_handed_in_counts_every_start_and_stop() -> None:
    counter = StartCounter()
    translator = Translator(DICTIONARY, counter)
    for _ in range(2):
        await translator.start()
        await translator.stop()

    assert (counter.starts, counter.stops) == (2, 2)


@pytest.mark.asyncio
async def test_the_worker_is_a_named_task_and_stop_ends_it(translator: Translator) -> None:
    # The name is what a pending-task warning or a task dump shows.
    def workers() -> list[str]:
        return [task.get_name() for task in asyncio.all_tasks() if task.get_name() == "translator-worker"]

    assert workers() == ["translator-worker"]
    await translator.stop()
    assert workers() == []


@pytest.mark.asyncio
async def test_a_stopped_service_refuses_calls(translator: Translator) -> None:
    await translator.stop()

    with pytest.raises(ServiceNotRunningError, match=NOT_RUNNING):
        await translator.translate("hello")
    with pytest.raises(ServiceNotRunningError, match=NOT_RUNNING):
        _ = translator.loop


@pytest.mark.asyncio
async def test_a_service_that_was_never_started_refuses_calls() -> None:
    never_started = Translator(DICTIONARY)

    with pytest.raises(ServiceNotRunningError, match=NOT_RUNNING):
        await never_started.translate("hello")
    with pytest.raises(ServiceNotRunningError, match=NOT_RUNNING):
        _ = never_started.loop


@pytest.mark.asyncio
async def test_starting_twice_is_an_error(translator: Translator) -> None:
    with pytest.raises(RuntimeError, match=r"^translator is already running$"):
        await translator.start()
    assert translator.counter.starts == 1


@pytest.mark.asyncio
async def test_a_stopped_service_can_be_started_again(translator: Translator) -> None:
    await translator.stop()
    await translator.start()

    async with asyncio.timeout(1):  # with its whole dictionary, in any letter case
        assert await translator.translate("WORLD peace") == "Welt peace"
    assert translator.counter.starts == 2


@pytest.mark.asyncio
async def test_stop_fails_requests_the_worker_has_not_answered(translator: Translator) -> None:
    pending = asyncio.create_task(translator.translate("hello"))
    await asyncio.sleep(0)  # one step: the request is queued, the worker has not run yet

    await translator.stop()

    with pytest.raises(ServiceNotRunningError, match=r"^translator stopped before answering$"):
        async with asyncio.timeout(1):
            await pending


@pytest.mark.asyncio
async def test_the_worker_skips_a_request_whose_caller_gave_up(translator: Translator) -> None:
    gave_up = asyncio.create_task(translator.translate("hello"))
    await asyncio.sleep(0)  # queued; the worker is woken but has not run
    gave_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gave_up  # meanwhile the worker takes the request and must skip it

    # A worker that had tried to answer the cancelled future would be dead now.
    async with asyncio.timeout(1):
        assert await translator.translate("cat") == "Katze"


@pytest.mark.asyncio
async def test_stop_skips_a_queued_request_whose_caller_gave_up(translator: Translator) -> None:
    gave_up = asyncio.create_task(translator.translate("hello"))
    await asyncio.sleep(0)
    gave_up.cancel()

    await translator.stop()  # the cancelled request is still queued: stop must not fail on it

    with pytest.raises(asyncio.CancelledError):
        await gave_up
    assert translator.counter.stops == 1


@pytest.mark.parametrize("text", ["", "   ", "x" * (MAX_TEXT_LENGTH + 1)])
@pytest.mark.asyncio
async def test_blank_or_oversized_text_is_refused(translator: Translator, text: str) -> None:
    with pytest.raises(ValueError, match=f"1-{MAX_TEXT_LENGTH} characters"):
        await translator.translate(text)


@pytest.mark.asyncio
async def test_longest_allowed_text_is_translated(translator: Translator) -> None:
    text = "cat " * (MAX_TEXT_LENGTH // 4)
    assert len(text) == MAX_TEXT_LENGTH

    assert await translator.translate(text) == " ".join(["Katze"] * (MAX_TEXT_LENGTH // 4))


def test_an_empty_dictionary_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^dictionary must not be empty$"):
        Translator({})


# Pitfalls, reproduced in a sandbox --------------------------------------------

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
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_doc=DOC_PATTERN)

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*requested an async fixture 'service', with no plugin or hook that handled it*"])


def test_the_docs_session_fixture_is_a_scope_mismatch_in_auto_mode(pytester: pytest.Pytester) -> None:
    # Auto mode takes the fixture, but gives it the default fixture loop scope: function.
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_doc=DOC_PATTERN)

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ScopeMismatch: You tried to access the function scoped fixture _function_scoped_runner"
            " with a session scoped request object*"
        ]
    )


def test_a_session_loop_fixture_used_from_a_function_loop_test_fails(pytester: pytest.Pytester) -> None:
    # The service's futures belong to the session loop; a test on its own
    # function loop cannot await them. The same test on the session loop passes.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    module = Path(__file__).with_name("translator.py")
    pytester.makepyfile(sandbox_translator=module.read_text())
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
    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: Task * got Future <Future pending> attached to a different loop"])
    result.stdout.fnmatch_lines(["FAILED test_mismatch.py::test_on_the_function_loop - RuntimeError: Task *"])
