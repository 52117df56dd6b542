"""asyncio debug mode catches a blocking call; background tasks are closed, so conftest.py's check
(no task left pending) passes. ``debug_loop`` gives one test what ``pytest --asyncio-debug`` gives a run.
"""

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .signup import BackgroundTasks, SignUp, hash_password

FAST, BLOCKING = 1_000, 40_000  # PBKDF2 iterations: instant, and 10-25 ms (far over the slow-callback limit)
WAIT, GRACE = 2, 1  # seconds; only reached when something is broken


@pytest_asyncio.fixture
async def debug_loop() -> AsyncIterator[asyncio.AbstractEventLoop]:
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.002  # asyncio's default, 0.1 s, misses short blocks
    yield loop
    loop.set_debug(False)


class Mailer:
    """A fake e-mail sender: each send waits until ``deliver`` is set, then fails if ``broken``."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.deliver = asyncio.Event()
        self.sent: list[tuple[str, str]] = []

    async def send(self, to: str, body: str) -> None:
        await self.deliver.wait()
        if self.broken:
            raise ConnectionError("mail server unreachable")
        self.sent.append((to, body))


@pytest.mark.asyncio
async def test_debug_mode_reports_the_blocking_hash_as_a_slow_callback(
    debug_loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    background = BackgroundTasks()
    service = SignUp(Mailer().send, background, iterations=BLOCKING)
    await service.sign_up("ann@example.com", "correct horse")  # hashes in a worker thread: not reported
    caplog.clear()

    assert await service.log_in("ann@example.com", "correct horse")  # hashes in the loop
    await asyncio.sleep(0)  # the task stops here, and the log names this line

    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and r.levelno == logging.WARNING]
    this_test = test_debug_mode_reports_the_blocking_hash_as_a_slow_callback.__name__
    assert re.fullmatch(
        rf"Executing <Task pending .*coro=<{this_test}\(\) running at .*> took \d\.\d{{3}} seconds", slow[0]
    )
    await background.aclose(grace=0)  # the welcome e-mail never goes out: cancelled, not left pending


@pytest.mark.asyncio
async def test_the_welcome_email_goes_out_in_the_background_and_aclose_waits_for_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    background = BackgroundTasks()
    mailer = Mailer()
    service = SignUp(mailer.send, background, iterations=FAST)

    await service.sign_up("ann@example.com", "correct horse")
    assert [task.get_name() for task in background.tasks] == ["welcome-email:ann@example.com"]
    assert mailer.sent == []  # sign_up returned before the e-mail was sent

    mailer.deliver.set()
    async with asyncio.timeout(WAIT):
        await background.aclose(grace=GRACE)

    assert mailer.sent == [("ann@example.com", "Welcome aboard!")]
    assert background.tasks == set()
    assert caplog.records == []  # a success logs no failure


@pytest.mark.asyncio
async def test_a_new_user_can_log_in_with_the_right_password_only() -> None:
    background = BackgroundTasks()
    service = SignUp(Mailer().send, background, iterations=FAST)
    await service.sign_up("ann@example.com", "correct horse")

    assert await service.log_in("ann@example.com", "correct horse")
    assert not await service.log_in("ann@example.com", "wrong horse")
    assert not await service.log_in("bob@example.com", "correct horse")
    await background.aclose(grace=0)


@pytest.mark.asyncio
async def test_aclose_cancels_sends_still_running_after_the_grace_period(caplog: pytest.LogCaptureFixture) -> None:
    background = BackgroundTasks()
    mailer = Mailer()  # never delivers
    await SignUp(mailer.send, background, iterations=FAST).sign_up("ann@example.com", "correct horse")
    await BackgroundTasks().aclose(grace=GRACE)  # with nothing running, it returns at once

    async with asyncio.timeout(WAIT):
        await background.aclose(grace=0.01)

    assert (mailer.sent, background.tasks, caplog.records) == ([], set(), [])  # cancelled: not a failure


@pytest.mark.asyncio
async def test_a_failed_background_send_is_logged_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    background = BackgroundTasks()
    mailer = Mailer(broken=True)
    mailer.deliver.set()
    await SignUp(mailer.send, background, iterations=FAST).sign_up("ann@example.com", "correct horse")

    async with asyncio.timeout(WAIT):
        await background.aclose(grace=GRACE)

    [record] = caplog.records
    assert (record.name, record.getMessage()) == (
        SignUp.__module__,
        "background task welcome-email:ann@example.com failed",
    )
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ConnectionError)


def test_hash_password_depends_on_password_salt_and_iterations() -> None:
    digest = hash_password("correct horse", b"salt", FAST)

    assert digest == hash_password("correct horse", b"salt", FAST)
    assert digest != hash_password("correct horse", b"pepper", FAST)
    assert digest != hash_password("correct horsf", b"salt", FAST)
    assert digest != hash_password("correct horse", b"salt", FAST + 1)
