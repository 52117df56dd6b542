"""What virtual time does not cover, and the shortcuts that look like it: each with the error (or silence) it gives."""

import asyncio
import time
from unittest.mock import AsyncMock

import async_solipsism  # type: ignore[import-untyped]  # the package ships no type hints
import pytest
from pytest_mock import MockerFixture

from .schedules import retry
from .test_schedules import FlakyCall, in_virtual_time

pytest_plugins = ["pytester"]

# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
LEAN = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]
NEVER = r"^select with no timeout and no ready events$"


@in_virtual_time
async def test_only_the_loop_clock_moves_the_wall_clock_does_not() -> None:
    loop = asyncio.get_running_loop()
    loop_start, wall_start = loop.time(), time.monotonic()

    await asyncio.sleep(30)

    assert loop.time() - loop_start == 30
    assert time.monotonic() - wall_start < 5  # code that reads time.monotonic() sees no time pass


def test_waiting_for_something_that_never_comes_fails_at_once_instead_of_hanging() -> None:
    with (
        asyncio.Runner(loop_factory=async_solipsism.EventLoop) as runner,
        pytest.raises(async_solipsism.SleepForeverError, match=NEVER),
    ):
        runner.run(asyncio.Event().wait())  # nobody will ever set it, and no timer is due


def test_a_lone_sleep_of_a_day_or_more_looks_like_sleeping_forever() -> None:
    # asyncio caps one select() wait at 24 hours; async-solipsism reads a wait that
    # long as "forever". It only bites when no other timer is due within the day.
    with asyncio.Runner(loop_factory=async_solipsism.EventLoop) as runner:
        runner.run(asyncio.sleep(24 * 3600 - 1))
        with pytest.raises(async_solipsism.SleepForeverError, match=NEVER):
            runner.run(asyncio.sleep(24 * 3600))


@in_virtual_time
async def test_the_virtual_loop_cannot_reach_real_servers() -> None:
    with pytest.raises(ConnectionRefusedError, match=r"^No socket listening on 127\.0\.0\.1:8080$"):
        await asyncio.open_connection("127.0.0.1", 8080)


@pytest.mark.asyncio
async def test_patching_out_sleep_skips_the_waits_and_the_deadline_with_them(mocker: MockerFixture) -> None:
    # The usual shortcut, on the ordinary loop: make asyncio.sleep return at once. The test is
    # fast, but the loop clock stands still, so the 5-second deadline never comes.
    fake_sleep = mocker.patch("asyncio.sleep", new=AsyncMock())
    call = FlakyCall(failures=100)

    assert await retry(call, deadline=5, first_delay=1, cap=1, jitter=0) == "answer"

    assert len(call.started_at) == 101  # on a real or virtual clock it gives up after 5 attempts
    assert fake_sleep.await_count == 100


def test_a_folder_level_loop_factory_hook_recreates_session_fixtures_elsewhere(pytester: pytest.Pytester) -> None:
    # The wrong way for a mixed suite: a `pytest_asyncio_loop_factories` hook in a sub-folder's
    # conftest.py. It applies only to that folder, but switching loop factory tears down
    # pytest-asyncio's session runner, and every session-scoped async fixture with it.
    # The right way, this recipe's asyncio.Runner of its own, disturbs nothing (own/ below).
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n")
    pytester.makepyfile(
        test_shared="""
        import pytest, pytest_asyncio

        SETUPS = []

        @pytest_asyncio.fixture(scope="session", loop_scope="session")
        async def expensive():
            SETUPS.append(1)
            yield

        @pytest.mark.asyncio(loop_scope="session")
        @pytest.mark.parametrize("after", ["start", "own", "hook"])
        async def test_shared(expensive, after):
            assert len(SETUPS) == 1, "the session fixture was set up again"
        """
    )
    (pytester.mkpydir("own") / "test_own.py").write_text(
        "import asyncio, async_solipsism\n\n"
        "def test_a_minute():\n"
        "    with asyncio.Runner(loop_factory=async_solipsism.EventLoop) as runner:\n"
        "        runner.run(asyncio.sleep(60))\n"
    )
    hook = pytester.mkpydir("hook")
    (hook / "conftest.py").write_text(
        "import async_solipsism\n\n"
        "def pytest_asyncio_loop_factories(config, item):\n"
        "    return {'virtual': async_solipsism.EventLoop}\n"
    )
    (hook / "test_hook.py").write_text(
        "import asyncio, pytest\n\n@pytest.mark.asyncio\nasync def test_a_minute():\n    await asyncio.sleep(60)\n"
    )
    order = ["test_shared.py::test_shared[start]", "own", "test_shared.py::test_shared[own]", "hook"]
    result = pytester.runpytest(*LEAN, "-rf", *order, "test_shared.py::test_shared[hook]")

    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        ["*AssertionError: the session fixture was set up again", "FAILED test_shared.py::test_shared[[]hook[]]*"]
    )
