"""Start an expensive service once per session (or module) and await it on the loop it was started on."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .translator import ServiceNotRunningError, StartCounter, Translator

DICTIONARY = {"hello": "hallo", "world": "Welt", "cat": "Katze"}


@pytest.fixture(scope="session")
def session_counter() -> StartCounter:
    """Same scope as the service it counts: a service set up more often than its scope pushes it past 1."""
    return StartCounter()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_translator(session_counter: StartCounter) -> AsyncIterator[Translator]:
    """One translator for the whole run, started on the session-wide event loop."""
    translator = Translator(DICTIONARY, session_counter)
    await translator.start()
    yield translator
    await translator.stop()


@pytest.mark.asyncio(loop_scope="session")
async def test_session_fixture_was_started_on_the_loop_this_test_runs_on(shared_translator: Translator) -> None:
    assert shared_translator.loop is asyncio.get_running_loop()
    assert await shared_translator.translate("Hello  cat") == "hallo Katze"


@pytest.mark.parametrize("text", ["hello world", "WORLD", "hello stranger"])
@pytest.mark.asyncio(loop_scope="session")
async def test_session_fixture_is_started_once_however_many_tests_use_it(
    shared_translator: Translator, session_counter: StartCounter, text: str
) -> None:
    # True alone, in any order and on every xdist worker: each process starts it exactly once.
    await shared_translator.translate(text)
    assert (session_counter.starts, session_counter.stops) == (1, 0)


# The same one level down: one service per test file, on that file's own loop.
@pytest.fixture(scope="module")
def module_counter() -> StartCounter:
    return StartCounter()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_translator(module_counter: StartCounter) -> AsyncIterator[Translator]:
    translator = Translator({"hello": "bonjour"}, module_counter)
    await translator.start()
    yield translator
    await translator.stop()


@pytest.mark.parametrize("word", ["hello", "stranger"])
@pytest.mark.asyncio(loop_scope="module")
async def test_module_fixture_is_started_once_on_this_modules_loop(
    module_translator: Translator, module_counter: StartCounter, word: str
) -> None:
    assert module_translator.loop is asyncio.get_running_loop()
    assert await module_translator.translate(word) == {"hello": "bonjour"}.get(word, word)
    assert (module_counter.starts, module_counter.stops) == (1, 0)


# A fresh service per test, for the tests that stop it or cancel its callers.
@pytest_asyncio.fixture
async def translator() -> AsyncIterator[Translator]:
    fresh = Translator(DICTIONARY)
    await fresh.start()
    yield fresh
    await fresh.stop()


@pytest.mark.asyncio
async def test_stop_fails_requests_the_worker_has_not_answered(translator: Translator) -> None:
    pending = asyncio.create_task(translator.translate("hello"))
    await asyncio.sleep(0)  # one step: the request is queued, the worker has not run yet

    await translator.stop()

    with pytest.raises(ServiceNotRunningError, match=r"^translator stopped before answering$"):
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


@pytest.mark.asyncio
async def test_stop_ends_the_named_worker_and_a_stopped_service_refuses_calls(translator: Translator) -> None:
    def workers() -> list[asyncio.Task[object]]:  # the name is what a pending-task report shows
        return [task for task in asyncio.all_tasks() if task.get_name() == "translator-worker"]

    assert len(workers()) == 1
    await translator.stop()
    await translator.stop()  # a second stop is harmless and not counted

    assert workers() == []
    assert (translator.counter.starts, translator.counter.stops) == (1, 1)
    with pytest.raises(ServiceNotRunningError, match=r"^translator is not running: await start\(\) first$"):
        await translator.translate("hello")


@pytest.mark.asyncio
async def test_a_service_refuses_calls_until_started_and_can_be_started_again() -> None:
    counter = StartCounter()
    translator = Translator(DICTIONARY, counter)
    with pytest.raises(ServiceNotRunningError, match=r"^translator is not running"):
        await translator.translate("hello")

    for _ in range(2):
        await translator.start()
        async with asyncio.timeout(1):  # with its whole dictionary, in any letter case
            assert await translator.translate("WORLD peace") == "Welt peace"
        await translator.stop()

    assert (counter.starts, counter.stops) == (2, 2)
