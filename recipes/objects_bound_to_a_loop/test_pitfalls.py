"""Loop-bound objects built where no loop, or another loop, runs: each with the error users see."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .quote_client import REQUEST_ID

pytest_plugins = ["pytester"]

# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
FAST = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]
SANDBOX_INI = (
    "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    "asyncio_default_test_loop_scope = function\nfilterwarnings = error\n"
)


def test_module_level_primitives_fail_the_next_test_that_waits_on_them(pytester: pytest.Pytester) -> None:
    # Since Python 3.10 a primitive binds to a loop only when it first has to wait; each
    # test has its own loop. So the first test that waits passes, and the next one fails.
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        test_primitives="""
        import asyncio
        import pytest

        LOCK, SEMAPHORE, EVENT = asyncio.Lock(), asyncio.Semaphore(1), asyncio.Event()
        QUEUE, JOBS = asyncio.Queue(), asyncio.Queue()
        KINDS = ["lock", "semaphore", "event", "queue", "queue.join"]

        async def wait_on(kind):
            # Make the test wait on the primitive once; call_soon ends each wait.
            loop = asyncio.get_running_loop()
            if kind in ("lock", "semaphore"):
                primitive = LOCK if kind == "lock" else SEMAPHORE
                await primitive.acquire()
                loop.call_soon(primitive.release)
                async with primitive:
                    pass
            elif kind == "event":
                loop.call_soon(EVENT.set)
                await EVENT.wait()
                EVENT.clear()
            elif kind == "queue":
                loop.call_soon(QUEUE.put_nowait, "job")
                await QUEUE.get()
                QUEUE.task_done()
            else:
                JOBS.put_nowait("job")
                loop.call_soon(lambda: (JOBS.get_nowait(), JOBS.task_done()))
                await JOBS.join()

        @pytest.mark.asyncio
        async def test_1_uses_each_without_waiting():
            async with LOCK, SEMAPHORE:
                EVENT.set()
                await EVENT.wait()
                EVENT.clear()
                QUEUE.put_nowait("job")
                await QUEUE.get()
                QUEUE.task_done()

        @pytest.mark.asyncio
        @pytest.mark.parametrize("kind", KINDS)
        async def test_2_waits_first(kind):
            await wait_on(kind)

        @pytest.mark.asyncio
        @pytest.mark.parametrize("kind", KINDS)
        async def test_3_waits_on_its_own_loop(kind):
            await wait_on(kind)
        """
    )

    result = pytester.runpytest(*FAST)

    result.assert_outcomes(passed=6, failed=5)
    # The same texts on Python 3.11, 3.12 and 3.13; queue.join() names the queue's inner Event.
    result.stdout.fnmatch_lines(
        [
            line
            for kind, text in [
                ("lock", "<asyncio.locks.Lock object at 0x* [[]locked]>"),
                ("semaphore", "<asyncio.locks.Semaphore object at 0x* [[]locked]>"),
                ("event", "<asyncio.locks.Event object at 0x* [[]unset]>"),
                ("queue", "<Queue at 0x* maxsize=0>"),
                ("queue.join", "<asyncio.locks.Event object at 0x* [[]unset]>"),
            ]
            for line in (
                f"*_ test_3_waits_on_its_own_loop[[]{kind}] _*",
                f"E   *RuntimeError: {text} is bound to a different event loop",
            )
        ]
    )


def test_a_session_from_a_sync_fixture_or_another_loop_fails_in_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        test_sessions="""
        import asyncio
        import aiohttp
        import pytest
        import pytest_asyncio
        from aiohttp import web
        from aiohttp.test_utils import TestServer

        @pytest.fixture
        def session_from_a_sync_fixture():
            return aiohttp.ClientSession()  # no loop is running here

        @pytest.fixture(scope="module")
        def session_on_its_own_loop():
            loop = asyncio.new_event_loop()  # the usual workaround: run one by hand

            async def build():
                return aiohttp.ClientSession()

            session = loop.run_until_complete(build())
            yield session
            loop.run_until_complete(session.close())
            loop.close()

        @pytest_asyncio.fixture(scope="module", loop_scope="module")
        async def session_on_the_module_loop():
            async with aiohttp.ClientSession() as session:
                yield session

        @pytest_asyncio.fixture(scope="module", loop_scope="module")
        async def url():
            app = web.Application()
            async def ok(request):
                return web.Response(text="ok")

            app.router.add_get("/", ok)
            async with TestServer(app) as server:
                yield server.make_url("/")

        @pytest.mark.asyncio
        async def test_session_from_a_sync_fixture(session_from_a_sync_fixture):
            pass

        @pytest.mark.asyncio
        async def test_session_on_its_own_loop(session_on_its_own_loop, url):
            await session_on_its_own_loop.get(url)

        @pytest.mark.asyncio
        async def test_module_loop_session_on_the_function_loop(session_on_the_module_loop, url):
            await session_on_the_module_loop.get(url)

        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_loop_session_on_the_module_loop(session_on_the_module_loop, url):
            async with session_on_the_module_loop.get(url) as response:
                assert await response.text() == "ok"
        """
    )

    result = pytester.runpytest(*FAST)

    result.assert_outcomes(passed=1, failed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_session_from_a_sync_fixture _*",
            "E   *RuntimeError: no running event loop",
            "*_ test_session_on_its_own_loop _*",
            "E   *RuntimeError: Timeout context manager should be used inside a task",
            "*_ test_module_loop_session_on_the_function_loop _*",
            "E   *RuntimeError: Timeout context manager should be used inside a task",
        ]
    )
    # Older aiohttp only warned here; 3.14 has no such text any more.
    result.stdout.no_fnmatch_line("*The object should be created within an async function*")


@pytest_asyncio.fixture
async def request_id_from_a_task() -> None:
    async def log_in() -> None:
        REQUEST_ID.set("req-from-task")  # changes the task's own copy of the context

    await asyncio.create_task(log_in())


@pytest.mark.asyncio
@pytest.mark.usefixtures("request_id_from_a_task")
async def test_a_value_set_in_a_task_the_fixture_starts_never_reaches_the_test() -> None:
    assert REQUEST_ID.get() == "-"


@pytest_asyncio.fixture
async def request_id_checked_at_teardown() -> AsyncIterator[None]:
    REQUEST_ID.set("req-from-fixture")
    yield
    # Teardown runs in the fixture's own context: the test's change never reaches it.
    assert REQUEST_ID.get() == "req-from-fixture"


@pytest.mark.asyncio
@pytest.mark.usefixtures("request_id_checked_at_teardown")
async def test_a_value_the_test_sets_is_not_seen_by_its_fixtures_teardown() -> None:
    assert REQUEST_ID.get() == "req-from-fixture"
    REQUEST_ID.set("req-from-test")
