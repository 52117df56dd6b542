"""Debug mode and leak checks: a blocking call, a never-awaited coroutine, tasks left pending.

The recipe's ``conftest.py`` fails any test here that leaves tasks pending.
``debug_loop`` gives one test what ``pytest --asyncio-debug`` gives a whole
run: asyncio's debug mode, plus a slow-callback limit low enough to catch a
blocking call that takes a few milliseconds. The ``pytester`` tests at the
bottom run the mistakes in a sandbox and show the messages they produce.
"""

import asyncio
import inspect
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from .signup import BackgroundTasks, SignUp, hash_password

FAST = 1_000  # PBKDF2 iterations where the hashing speed does not matter
BLOCKING = 40_000  # about 10-25 ms of hashing: far over SLOW_CALLBACK on any machine
SLOW_CALLBACK = 0.002  # seconds; asyncio's default is 0.1
WAIT = 2  # seconds; only reached when something is broken
GRACE = 1  # seconds aclose lets sends finish; the sends here finish at once unless something is broken
HERE = Path(__file__).parent
# The sandboxes need none of these plugins; each costs time per run.
SANDBOX_ARGS = ("-p", "no:randomly", "-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:aiohttp")
SANDBOX_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"


class Mailer:
    """A fake e-mail sender; each send waits until ``deliver`` is set, or fails if ``broken``."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.deliver = asyncio.Event()
        self.sent: list[tuple[str, str]] = []
        self.cancelled: list[str] = []

    async def send(self, to: str, body: str) -> None:
        try:
            await self.deliver.wait()
        except asyncio.CancelledError:
            self.cancelled.append(to)
            raise
        if self.broken:
            raise ConnectionError("mail server unreachable")
        self.sent.append((to, body))


@pytest_asyncio.fixture
async def debug_loop() -> AsyncIterator[asyncio.AbstractEventLoop]:
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK
    yield loop
    loop.set_debug(False)


def slow_callback_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "asyncio" and r.levelno == logging.WARNING and r.getMessage().startswith("Executing ")
    ]


@pytest.mark.asyncio
async def test_a_new_user_can_log_in_with_the_right_password_only() -> None:
    background = BackgroundTasks()
    mailer = Mailer()
    mailer.deliver.set()
    service = SignUp(mailer.send, background, iterations=FAST)

    await service.sign_up("ann@example.com", "correct horse")

    assert await service.log_in("ann@example.com", "correct horse")
    assert not await service.log_in("ann@example.com", "wrong horse")
    assert not await service.log_in("bob@example.com", "correct horse")
    await background.aclose(grace=GRACE)


@pytest.mark.asyncio
async def test_the_welcome_email_goes_out_in_the_background_and_aclose_waits_for_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    background = BackgroundTasks()
    mailer = Mailer()
    service = SignUp(mailer.send, background, iterations=FAST)

    await service.sign_up("ann@example.com", "correct horse")
    assert background.pending == 1  # sign_up returned before the e-mail was sent
    assert mailer.sent == []

    mailer.deliver.set()
    async with asyncio.timeout(WAIT):
        await background.aclose(grace=GRACE)

    assert mailer.sent == [("ann@example.com", "Welcome aboard!")]
    assert background.pending == 0
    assert [r for r in caplog.records if r.name.endswith("signup")] == []  # a success logs no failure


@pytest.mark.asyncio
async def test_aclose_cancels_sends_still_running_after_the_grace_period() -> None:
    background = BackgroundTasks()
    mailer = Mailer()  # never delivers
    service = SignUp(mailer.send, background, iterations=FAST)
    await service.sign_up("ann@example.com", "correct horse")

    async with asyncio.timeout(WAIT):
        await background.aclose(grace=0.01)

    assert mailer.cancelled == ["ann@example.com"]
    assert background.pending == 0


@pytest.mark.asyncio
async def test_closing_with_nothing_running_returns_at_once() -> None:
    background = BackgroundTasks()

    await background.aclose(grace=GRACE)

    assert background.pending == 0


@pytest.mark.asyncio
async def test_work_spawned_after_close_is_refused_and_its_coroutine_closed() -> None:
    background = BackgroundTasks()
    await background.aclose(grace=GRACE)
    work = Mailer().send("ann@example.com", "hello")

    with pytest.raises(RuntimeError, match="background tasks are closed"):
        background.spawn(work, name="late")

    # closed, not just dropped: a dropped coroutine would warn "was never awaited"
    assert inspect.getcoroutinestate(work) == inspect.CORO_CLOSED


@pytest.mark.asyncio
async def test_a_failed_background_send_is_logged_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    background = BackgroundTasks()
    mailer = Mailer(broken=True)
    mailer.deliver.set()
    service = SignUp(mailer.send, background, iterations=FAST)

    await service.sign_up("ann@example.com", "correct horse")
    async with asyncio.timeout(WAIT):
        await background.aclose(grace=GRACE)

    [record] = [r for r in caplog.records if r.name.endswith("signup")]
    assert record.getMessage() == "background task welcome-email:ann@example.com failed"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ConnectionError)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("ann.example.com", "correct horse", "not an e-mail address: 'ann.example.com'"),
        ("@", "correct horse", "not an e-mail address: '@'"),
        ("ann@example.com", "7 chars", "password must be at least 8 characters"),
    ],
)
@pytest.mark.asyncio
async def test_bad_sign_up_input_is_refused(email: str, password: str, message: str) -> None:
    service = SignUp(Mailer().send, BackgroundTasks(), iterations=FAST)

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):  # the whole message
        await service.sign_up(email, password)


@pytest.mark.asyncio
async def test_the_shortest_valid_input_is_accepted() -> None:
    background = BackgroundTasks()
    mailer = Mailer()
    mailer.deliver.set()
    service = SignUp(mailer.send, background, iterations=FAST)

    await service.sign_up("X@example.com", "8 chars!")  # a one-letter name, an 8-character password

    assert await service.log_in("X@example.com", "8 chars!")
    await background.aclose(grace=GRACE)


@pytest.mark.asyncio
async def test_signing_up_twice_is_refused() -> None:
    background = BackgroundTasks()
    mailer = Mailer()
    mailer.deliver.set()
    service = SignUp(mailer.send, background, iterations=FAST)
    await service.sign_up("ann@example.com", "correct horse")

    with pytest.raises(ValueError, match="already signed up"):
        await service.sign_up("ann@example.com", "another horse")
    await background.aclose(grace=GRACE)


def test_hash_password_depends_on_password_salt_and_iterations() -> None:
    digest = hash_password("correct horse", b"salt", FAST)

    assert digest == hash_password("correct horse", b"salt", FAST)
    assert digest != hash_password("correct horse", b"pepper", FAST)
    assert digest != hash_password("correct horsf", b"salt", FAST)
    assert digest != hash_password("correct horse", b"salt", FAST + 1)


@pytest.mark.asyncio
async def test_debug_mode_reports_the_blocking_hash_as_a_slow_callback(
    debug_loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    background = BackgroundTasks()
    mailer = Mailer()
    mailer.deliver.set()
    service = SignUp(mailer.send, background, iterations=BLOCKING)
    await service.sign_up("ann@example.com", "correct horse")  # hashes in a worker thread
    caplog.clear()

    assert await service.log_in("ann@example.com", "correct horse")  # hashes in the loop
    await asyncio.sleep(0)  # the task stops here, and the log names this line

    warnings = slow_callback_warnings(caplog)
    assert warnings, "debug mode did not report the blocking hash"
    this_test = re.escape(test_debug_mode_reports_the_blocking_hash_as_a_slow_callback.__name__)
    assert re.fullmatch(
        rf"Executing <Task pending .*coro=<{this_test}\(\) running at .*> took \d+\.\d{{3}} seconds", warnings[0]
    )
    await background.aclose(grace=GRACE)


def test_leftover_tasks_fail_the_test_with_their_names_and_where_they_wait(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makeconftest((HERE / "conftest.py").read_text())
    pytester.makepyfile(signup=(HERE / "signup.py").read_text())
    pytester.makepyfile(
        test_leak="""
        import asyncio
        import pytest
        from signup import BackgroundTasks, SignUp

        async def never_sends(to, body):
            await asyncio.Event().wait()

        @pytest.mark.asyncio
        async def test_forgets_to_close():
            service = SignUp(never_sends, BackgroundTasks(), iterations=1000)
            await service.sign_up("ann@example.com", "correct horse")

        @pytest.mark.asyncio
        async def test_closes():
            background = BackgroundTasks()
            service = SignUp(never_sends, background, iterations=1000)
            await service.sign_up("ann@example.com", "correct horse")
            await background.aclose(grace=0.01)
        """
    )
    # In a subprocess: the leaked task must not outlive the sandbox inside our own process.
    result = pytester.runpytest_subprocess(*SANDBOX_ARGS)

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_forgets_to_close*",
            "*the test left 1 task(s) pending: welcome-email:ann@example.com (waiting at *test_leak.py:6)",
        ]
    )


FORGOTTEN_AWAIT = """
import pytest
from signup import BackgroundTasks

@pytest.mark.asyncio
async def test_stops_the_service():
    background = BackgroundTasks()
    background.aclose(grace=5)
"""


def test_without_debug_mode_a_never_awaited_coroutine_does_not_say_where_it_came_from(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(signup=(HERE / "signup.py").read_text(), test_forgot=FORGOTTEN_AWAIT)

    # In a subprocess: the never-awaited coroutine must not be collected later in our own process.
    result = pytester.runpytest_subprocess(*SANDBOX_ARGS, "--tb=short")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeWarning: coroutine 'BackgroundTasks.aclose' was never awaited"])
    result.stdout.no_fnmatch_line("*Coroutine created at*")


def test_debug_mode_shows_where_a_never_awaited_coroutine_was_created(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(signup=(HERE / "signup.py").read_text(), test_forgot=FORGOTTEN_AWAIT)

    result = pytester.runpytest_subprocess(*SANDBOX_ARGS, "--tb=short", "--asyncio-debug")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "asyncio: mode=*debug=True*",
            "*RuntimeWarning: coroutine 'BackgroundTasks.aclose' was never awaited",
            "*Coroutine created at (most recent call last)",
            '*File "*test_forgot.py", line 7, in test_stops_the_service',
            "*background.aclose(grace=5)",
            "*PytestUnraisableExceptionWarning: Exception ignored in: <coroutine object BackgroundTasks.aclose at *>",
        ]
    )
