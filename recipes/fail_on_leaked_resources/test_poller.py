"""Make leaked resources fail the run: unclosed sessions, never-awaited coroutines, tasks left running.

The project runs with ``filterwarnings = error``, so the ResourceWarning of an
unclosed ``ClientSession`` and the RuntimeWarning of a never-awaited coroutine
fail the test that caused them. Nothing warns about a task left running, so
``no_leaked_tasks`` checks for that. The ``pytester`` tests at the bottom run
the wrong versions in a sandbox and show the exact failures.
"""

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from .poller import StatusPoller

WAIT = 2  # seconds; only reached when something is broken
SANDBOX_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
# Fixed order, short tracebacks, and no hypothesis plugin (it costs ~0.1 s per sandbox run).
SANDBOX_ARGS = ("-p", "no:randomly", "-p", "no:hypothesispytest", "--tb=short")


@pytest_asyncio.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail the test if it leaves behind tasks that were not running when it started.

    Tasks that are already on their way out (a server closing a connection the
    test just closed) get a brief grace period; only a real leak waits it out.
    """
    before = asyncio.all_tasks()
    yield
    leftover = asyncio.all_tasks() - before - {asyncio.current_task()}
    if not leftover:
        return
    _, still_running = await asyncio.wait(leftover, timeout=0.05)
    if still_running:
        for task in still_running:
            task.cancel()
        await asyncio.wait(still_running)  # let them run their cleanup while the loop is still open
        names = ", ".join(sorted(task.get_name() for task in still_running))
        pytest.fail(f"the test left {len(still_running)} task(s) running: {names}", pytrace=False)


class Upstream:
    """A real status server on loopback; ``replies`` scripts what the next polls get."""

    def __init__(self) -> None:
        self.hits = 0
        self.replies: list[web.Response] = []
        self.stall: asyncio.Event | None = None  # when set, requests hang until it is set
        self.app = web.Application()
        self.app.router.add_get("/status", self.status)

    async def status(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.stall is not None:
            await self.stall.wait()
        if self.replies:
            return self.replies.pop(0)
        return web.json_response({"status": "ok", "hit": self.hits})


@pytest_asyncio.fixture
async def upstream(aiohttp_server: AiohttpServer) -> tuple[Upstream, str]:
    fake = Upstream()
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("/status"))


@pytest_asyncio.fixture
async def poller(upstream: tuple[Upstream, str], no_leaked_tasks: None) -> AsyncIterator[StatusPoller]:
    """Started in setup, closed in teardown however the test ends; both steps bounded."""
    _, url = upstream
    running = StatusPoller(url, interval=60)
    async with asyncio.timeout(WAIT):
        await running.start()
    try:
        yield running
    finally:
        async with asyncio.timeout(WAIT):
            await running.close()


async def polled(poller: StatusPoller, times: int = 1) -> None:
    async with asyncio.timeout(WAIT):
        for _ in range(times):
            await poller.wait_for_poll()


async def closed(poller: StatusPoller) -> None:
    async with asyncio.timeout(WAIT):
        await poller.close()


@pytest.mark.asyncio
async def test_the_first_poll_fills_latest(poller: StatusPoller) -> None:
    await polled(poller)

    assert poller.latest == {"status": "ok", "hit": 1}
    assert (poller.polls, poller.last_error) == (1, None)


@pytest.mark.asyncio
async def test_the_next_poll_waits_for_the_interval(upstream: tuple[Upstream, str], poller: StatusPoller) -> None:
    fake, _ = upstream
    await polled(poller)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.02):  # the interval is 60 s: no second poll comes
            await poller.wait_for_poll()
    assert fake.hits == 1


@pytest.mark.asyncio
async def test_polls_repeat_every_interval(upstream: tuple[Upstream, str], no_leaked_tasks: None) -> None:
    fake, url = upstream
    async with asyncio.timeout(WAIT), StatusPoller(url, interval=0.001) as poller:
        await poller.wait_for_poll()
        await poller.wait_for_poll()
        await poller.wait_for_poll()

    assert fake.hits >= 3
    assert poller.latest["hit"] >= 3


@pytest.mark.asyncio
async def test_an_error_status_is_recorded_and_polling_goes_on(
    upstream: tuple[Upstream, str], no_leaked_tasks: None
) -> None:
    fake, url = upstream
    fake.replies = [web.json_response({"status": "down"}, status=503)]
    async with asyncio.timeout(WAIT), StatusPoller(url, interval=0.001) as poller:
        await poller.wait_for_poll()
        first_error = poller.last_error
        assert isinstance(first_error, aiohttp.ClientResponseError)
        assert first_error.status == 503
        assert poller.latest is None  # a JSON body on an error status is not a status

        await poller.wait_for_poll()
        assert poller.last_error is None
        assert poller.latest == {"status": "ok", "hit": 2}


@pytest.mark.asyncio
async def test_a_reply_that_is_not_json_is_recorded(upstream: tuple[Upstream, str], no_leaked_tasks: None) -> None:
    fake, url = upstream
    fake.replies = [web.Response(text="<html>oops</html>", content_type="text/html")]
    async with asyncio.timeout(WAIT), StatusPoller(url, interval=60) as poller:
        await poller.wait_for_poll()

    assert isinstance(poller.last_error, aiohttp.ContentTypeError)
    assert poller.latest is None


@pytest.mark.asyncio
async def test_a_stalled_upstream_is_recorded_as_a_timeout(
    upstream: tuple[Upstream, str], no_leaked_tasks: None
) -> None:
    fake, url = upstream
    fake.stall = asyncio.Event()
    async with asyncio.timeout(WAIT), StatusPoller(url, interval=60, request_timeout=0.01) as poller:
        await poller.wait_for_poll()
        fake.stall.set()  # let the server's handler finish, or no_leaked_tasks would catch it

    assert isinstance(poller.last_error, TimeoutError)
    assert poller.latest is None


@pytest.mark.asyncio
async def test_close_cancels_the_task_and_closes_the_session(
    upstream: tuple[Upstream, str], no_leaked_tasks: None
) -> None:
    _, url = upstream
    poller = StatusPoller(url, interval=60)
    await poller.start()
    task, session = poller.task, poller.session
    assert task is not None
    assert session is not None
    await polled(poller)

    assert task.get_name() == f"StatusPoller({url})"  # what no_leaked_tasks would report
    assert session.timeout.total == 10  # the default request timeout, in seconds

    await closed(poller)

    assert task.cancelled()
    assert session.closed
    assert (poller.task, poller.session) == (None, None)
    await closed(poller)  # a second close is harmless


@pytest.mark.asyncio
async def test_async_with_closes_everything_when_the_body_raises(
    upstream: tuple[Upstream, str], no_leaked_tasks: None
) -> None:
    _, url = upstream
    with pytest.raises(ZeroDivisionError):
        async with asyncio.timeout(WAIT), StatusPoller(url) as poller:
            task, session = poller.task, poller.session
            _ = 1 / 0

    assert task is not None
    assert task.cancelled()
    assert session is not None
    assert session.closed


@pytest.mark.asyncio
async def test_a_closed_poller_can_be_started_again(poller: StatusPoller) -> None:
    await polled(poller)
    await closed(poller)

    await poller.start()
    await polled(poller)
    assert poller.polls == 2


@pytest.mark.asyncio
async def test_starting_twice_is_refused(poller: StatusPoller) -> None:
    first_session = poller.session
    with pytest.raises(RuntimeError, match=r"^the poller is already running$"):
        await poller.start()
    assert poller.session is first_session


@pytest.mark.asyncio
async def test_waiting_for_a_poll_before_start_is_a_clear_error() -> None:
    poller = StatusPoller("http://127.0.0.1:1/status")
    with pytest.raises(RuntimeError, match=r"^the poller is not running: call start\(\) or use `async with`$"):
        await polled(poller)
    await closed(poller)  # closing a poller that never started is harmless


def test_a_new_poller_has_polled_nothing_and_polls_every_5_seconds_by_default() -> None:
    poller = StatusPoller("https://status.example.org/health")  # https is accepted as well as http

    assert (poller.latest, poller.last_error, poller.polls) == (None, None, 0)
    assert poller.interval == 5
    assert (poller.session, poller.task) == (None, None)  # nothing is opened before start()


NOT_POSITIVE = "interval and request_timeout must be positive numbers of seconds"


@pytest.mark.parametrize(
    ("url", "settings", "message"),
    [
        ("127.0.0.1/status", {}, "expected an absolute http(s) URL, got '127.0.0.1/status'"),
        ("ftp://example.org/status", {}, "expected an absolute http(s) URL, got 'ftp://example.org/status'"),
        ("http:///status", {}, "expected an absolute http(s) URL, got 'http:///status'"),
        ("http://127.0.0.1/status", {"interval": 0}, NOT_POSITIVE),
        ("http://127.0.0.1/status", {"request_timeout": 0}, NOT_POSITIVE),
    ],
)
def test_bad_settings_are_refused(url: str, settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        StatusPoller(url, **settings)


def test_an_unclosed_session_fails_the_test_that_leaked_it(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        """
        import aiohttp
        import pytest
        import pytest_asyncio

        @pytest.mark.asyncio
        async def test_forgets_to_close_the_session():
            session = aiohttp.ClientSession()
            assert not session.closed

        @pytest_asyncio.fixture
        async def session():
            async with aiohttp.ClientSession() as session:
                yield session

        @pytest.mark.asyncio
        async def test_uses_a_fixture_that_closes_it(session):
            assert not session.closed
        """
    )
    result = pytester.runpytest(*SANDBOX_ARGS)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_forgets_to_close_the_session _*",
            "E   ResourceWarning: Unclosed client session <aiohttp.client.ClientSession object at 0x*>",
            "E   pytest.PytestUnraisableExceptionWarning: Exception ignored in: <function ClientSession.__del__ *>",
        ]
    )


def test_a_session_held_in_a_reference_cycle_is_caught_by_gc_collect(pytester: pytest.Pytester) -> None:
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

        class Client:
            def __init__(self):
                self.session = aiohttp.ClientSession()
                self.me = self  # a reference cycle: only the garbage collector frees it

        @pytest.mark.asyncio
        async def test_forgets_to_close_a_session_held_in_a_cycle():
            client = Client()
            assert not client.session.closed

        @pytest.mark.asyncio
        async def test_next():
            pass
        """
    )
    result = pytester.runpytest(*SANDBOX_ARGS)

    # The test body passes; the leak is reported at its teardown, when collect_garbage frees the session.
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_forgets_to_close_a_session_held_in_a_cycle _*",
            "E   ResourceWarning: Unclosed client session <aiohttp.client.ClientSession object at 0x*>",
        ]
    )


def test_a_coroutine_that_is_never_awaited_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        """
        import pytest

        class Connection:
            def __init__(self):
                self.closed = False

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
    result = pytester.runpytest(*SANDBOX_ARGS)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_forgets_await _*",
            "E   RuntimeWarning: coroutine 'Connection.close' was never awaited",
            "E   pytest.PytestUnraisableExceptionWarning: Exception ignored in: <coroutine object Connection.close *>",
        ]
    )


def test_a_task_left_running_passes_silently_unless_a_fixture_checks(pytester: pytest.Pytester) -> None:
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
                await asyncio.wait(still_running)
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
    result = pytester.runpytest(*SANDBOX_ARGS)

    # The unchecked leak passes: pytest-asyncio quietly cancels the task when it closes the loop.
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_leaks_checked _*",
            "the test left 1 task(s) running: forgotten-heartbeat",
        ]
    )
