"""Make leaks fail the test that caused them: unclosed sessions, forgotten awaits, tasks left running.

With ``filterwarnings = error`` in the pytest config, the ResourceWarning of an unclosed
ClientSession and the RuntimeWarning of a never-awaited coroutine fail the test. Nothing
warns about a task left running: ``no_leaked_tasks`` checks for that.
"""

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from .poller import StatusPoller

WAIT = 2  # seconds; only reached when something is broken


@pytest_asyncio.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail the test if it leaves running tasks that were not there when it started."""
    before = asyncio.all_tasks()
    yield
    leftover = asyncio.all_tasks() - before - {asyncio.current_task()}
    if not leftover:
        return
    _, still_running = await asyncio.wait(leftover, timeout=0.05)  # grace for tasks on their way out
    if still_running:
        for task in still_running:
            task.cancel()
        await asyncio.wait(still_running, timeout=WAIT)  # clean-up time, bounded: a task may refuse to stop
        names = ", ".join(sorted(task.get_name() for task in still_running))
        pytest.fail(f"the test left {len(still_running)} task(s) running: {names}", pytrace=False)


@pytest.mark.asyncio
async def test_async_with_closes_everything_when_the_body_raises(no_leaked_tasks: None) -> None:
    with pytest.raises(ZeroDivisionError):
        async with StatusPoller("http://127.0.0.1:9/status", interval=60, request_timeout=1) as poller:
            task, session = poller.task, poller.session
            _ = 1 / 0

    assert task is not None
    assert task.cancelled()
    assert session is not None
    assert session.closed


class Upstream:
    """A real status server on loopback; ``replies`` scripts what the next polls get."""

    def __init__(self) -> None:
        self.hits = 0
        self.replies: list[web.Response] = []
        self.stall: asyncio.Event | None = None  # when given, requests hang until it is set
        self.app = web.Application()
        self.app.router.add_get("/status", self.status)

    async def status(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.stall is not None:
            await self.stall.wait()
        return self.replies.pop(0) if self.replies else web.json_response({"status": "ok", "hit": self.hits})


@pytest_asyncio.fixture
async def upstream(aiohttp_server: AiohttpServer) -> tuple[Upstream, str]:
    fake = Upstream()
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("/status"))


@pytest_asyncio.fixture
async def poller(upstream: tuple[Upstream, str], no_leaked_tasks: None) -> AsyncIterator[StatusPoller]:
    """Closed however the test ends; it asks for no_leaked_tasks so the leak check runs after the close."""
    async with StatusPoller(upstream[1], interval=60, request_timeout=10) as running:
        yield running


@pytest.mark.asyncio
async def test_the_first_poll_fills_latest_and_the_next_waits_for_the_interval(
    upstream: tuple[Upstream, str], poller: StatusPoller
) -> None:
    async with asyncio.timeout(WAIT):
        await poller.wait_for_poll()
    assert (poller.latest, poller.last_error) == ({"status": "ok", "hit": 1}, None)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.02):  # the interval is 60 s: no second poll comes
            await poller.wait_for_poll()
    assert upstream[0].hits == 1


@pytest.mark.asyncio
async def test_close_cancels_the_named_task_and_closes_the_session(poller: StatusPoller) -> None:
    task, session = poller.task, poller.session
    assert task is not None
    assert task.get_name() == f"StatusPoller({poller.url})"  # what no_leaked_tasks would report
    assert session is not None
    assert session.timeout.total == 10

    await poller.close()

    assert task.cancelled()
    assert session.closed
    assert (poller.task, poller.session) == (None, None)
    await poller.close()  # a second close is harmless (the fixture closes it again)


@pytest.mark.asyncio
async def test_nothing_is_opened_before_start_so_nothing_leaks_if_it_never_comes() -> None:
    poller = StatusPoller("http://127.0.0.1:9/status", interval=60, request_timeout=1)

    assert (poller.session, poller.task, poller.latest, poller.last_error) == (None, None, None, None)
    await poller.close()  # harmless: a caller's `finally` may close a poller that never started


@pytest.mark.asyncio
async def test_an_error_status_is_recorded_and_polling_goes_on(
    upstream: tuple[Upstream, str], no_leaked_tasks: None
) -> None:
    fake, url = upstream
    fake.replies = [web.json_response({"status": "down"}, status=503)]
    async with asyncio.timeout(WAIT), StatusPoller(url, interval=0.001, request_timeout=10) as poller:
        await poller.wait_for_poll()
        error = poller.last_error
        assert isinstance(error, aiohttp.ClientResponseError)
        assert (error.status, poller.latest) == (503, None)  # a JSON body on an error status is not a status

        await poller.wait_for_poll()
        assert (poller.latest, poller.last_error) == ({"status": "ok", "hit": 2}, None)


@pytest.mark.asyncio
async def test_a_stalled_upstream_is_recorded_as_a_timeout(
    upstream: tuple[Upstream, str], no_leaked_tasks: None
) -> None:
    fake, url = upstream
    fake.stall = asyncio.Event()
    async with asyncio.timeout(WAIT), StatusPoller(url, interval=60, request_timeout=0.01) as poller:
        await poller.wait_for_poll()

    assert isinstance(poller.last_error, TimeoutError)
    assert poller.latest is None
