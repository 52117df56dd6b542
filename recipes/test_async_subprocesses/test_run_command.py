"""Subprocesses under test: output, exit codes, stderr, timeouts, and a child that is really gone.

Every child is ``sys.executable -c <program>``, so the tests need nothing but
Python. A "slow" child sleeps in its own process; the tests never wait for it:
they use a timeout of a few milliseconds, or cancel once the child has spoken.
"""

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Iterator

import pytest

from .run_command import CommandFailed, CommandNotFound, CommandTimedOut, run

WAIT = 5  # seconds; only reached when something is broken
QUICK = 0.05  # seconds; a timeout that is meant to expire
PROGRAM = re.escape(sys.executable)  # error messages start with the program's name
SLOW_CHILD = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
SPAWNS_A_GRANDCHILD = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print('spawned', flush=True); time.sleep(60)"
)


def python(program: str) -> list[str]:
    return [sys.executable, "-c", program]


@contextlib.contextmanager
def our_stdin(data: bytes) -> Iterator[None]:
    """Make ``data`` this process's standard input (file descriptor 0) for a while."""
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    saved = os.dup(0)
    os.dup2(read_end, 0)
    os.close(read_end)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)


def assert_gone(pid: int) -> None:
    # A zombie (exited, not yet reaped) still answers signal 0: only a reaped child is gone.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def first_line_then_cancel(program: str) -> str:
    """Start ``run``, wait until the child prints its first line, cancel, and return that line."""
    first: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_line(line: str) -> None:
        if not first.done():
            first.set_result(line)

    running = asyncio.create_task(run(python(program), timeout=WAIT, on_line=on_line))
    async with asyncio.timeout(WAIT):
        line = await first
        assert not running.done()  # the child still runs, and its line is already here
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    return line


@pytest.mark.asyncio
async def test_output_lines_come_back_in_order_with_stderr_on_the_side() -> None:
    program = "import sys; print('one'); print('  two  '); print('careful', file=sys.stderr); print('LaTeX')"

    output = await run(python(program), timeout=WAIT)

    assert output.lines == ["one", "  two  ", "LaTeX"]  # only the line break is cut
    assert output.stderr == "careful\n"


@pytest.mark.asyncio
async def test_the_child_reads_an_empty_stdin_not_ours() -> None:
    with our_stdin(b"yes\n"):
        output = await run(python("import sys; print(repr(sys.stdin.read()))"), timeout=WAIT)

    assert output.lines == ["''"]


@pytest.mark.asyncio
async def test_a_silent_command_gives_no_lines() -> None:
    output = await run(python("pass"), timeout=WAIT)

    assert output.lines == []
    assert output.stderr == ""


@pytest.mark.asyncio
async def test_each_line_is_handed_over_while_the_child_still_runs_and_cancelling_kills_it() -> None:
    pid = await first_line_then_cancel(SLOW_CHILD)

    assert_gone(int(pid))


@pytest.mark.asyncio
async def test_the_timeout_kills_and_reaps_the_child() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    seen: list[str] = []

    with pytest.raises(CommandTimedOut, match=rf"^{PROGRAM} timed out after {QUICK} s and was killed$") as caught:
        await run(python(SLOW_CHILD), timeout=QUICK, on_line=seen.append)

    assert loop.time() - started < WAIT  # it did not sit out the child's 60 s sleep
    assert_gone(caught.value.pid)
    assert caught.value.lines == seen  # what arrived before the deadline, if anything


@pytest.mark.asyncio
async def test_what_the_child_started_is_killed_too() -> None:
    # The grandchild holds the same stdout pipe. If it survived, stdout would never
    # reach end-of-file and the cancelled run could not finish: WAIT would expire.
    assert await first_line_then_cancel(SPAWNS_A_GRANDCHILD) == "spawned"


@pytest.mark.asyncio
async def test_a_non_zero_exit_is_an_error_that_carries_stderr() -> None:
    program = "import sys; print('partial'); sys.stderr.buffer.write(b'caf\\xe9\\nboom: disk full\\n'); sys.exit(3)"

    with pytest.raises(CommandFailed, match=f"^{PROGRAM} exited with status 3: boom: disk full$") as caught:
        await run(python(program), timeout=WAIT)

    assert caught.value.returncode == 3
    assert caught.value.stderr == "caf\ufffd\nboom: disk full\n"  # not UTF-8: replaced, not fatal
    assert caught.value.lines == ["partial"]


@pytest.mark.asyncio
async def test_a_failure_without_stderr_says_so() -> None:
    with pytest.raises(CommandFailed, match=rf"^{PROGRAM} exited with status 1: \(no stderr\)$"):
        await run(python("raise SystemExit(1)"), timeout=WAIT)


@pytest.mark.asyncio
async def test_a_child_killed_by_a_signal_is_reported_by_name() -> None:
    program = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"

    with pytest.raises(CommandFailed, match=rf"^{PROGRAM} was killed by signal SIGTERM: \(no stderr\)$") as caught:
        await run(python(program), timeout=WAIT)

    assert caught.value.returncode == -signal.SIGTERM


@pytest.mark.parametrize("program", ["/nonexistent/cookbook-tool", "cookbook-tool-that-is-not-on-path"])
@pytest.mark.asyncio
async def test_a_missing_executable_is_a_clear_error(program: str) -> None:
    with pytest.raises(CommandNotFound, match=f"no such executable: '{program}'") as caught:
        await run([program], timeout=WAIT)

    assert isinstance(caught.value.__cause__, FileNotFoundError)


@pytest.mark.asyncio
async def test_a_child_that_floods_stderr_does_not_deadlock() -> None:
    program = "import sys; sys.stderr.write('x' * 1_000_000); print('done')"

    output = await run(python(program), timeout=WAIT)

    assert output.lines == ["done"]
    assert len(output.stderr) == 1_000_000


@pytest.mark.asyncio
async def test_a_line_over_the_limit_is_refused_and_the_child_killed() -> None:
    program = "import sys, time; sys.stdout.write('x' * 5000); sys.stdout.flush(); time.sleep(60)"

    async with asyncio.timeout(WAIT):  # a child left running would keep run() waiting for it
        with pytest.raises(ValueError, match=f"^{PROGRAM} printed a line longer than 1024 bytes$") as caught:
            await run(python(program), timeout=WAIT, max_line=1024)

    assert "Separator is not found, and chunk exceed the limit" in str(caught.value.__cause__)


@pytest.mark.asyncio
async def test_output_that_is_not_utf8_is_replaced_not_fatal() -> None:
    program = "import sys; sys.stdout.buffer.write(b'caf\\xe9\\r\\n'); sys.stderr.buffer.write(b'na\\xefve')"

    output = await run(python(program), timeout=WAIT)

    assert output.lines == ["caf\ufffd"]
    assert output.stderr == "na\ufffdve"


@pytest.mark.parametrize("error", [RuntimeError("consumer broke"), TimeoutError("consumer gave up")])
@pytest.mark.asyncio
async def test_an_error_in_the_line_callback_stops_and_reaps_the_child(error: Exception) -> None:
    seen: list[str] = []

    def broken_consumer(line: str) -> None:
        seen.append(line)
        raise error

    # The callback's own TimeoutError stays itself: only the deadline becomes CommandTimedOut.
    with pytest.raises(type(error), match=str(error)):
        await run(python(SLOW_CHILD), timeout=WAIT, on_line=broken_consumer)

    assert_gone(int(seen[0]))


@pytest.mark.parametrize(
    ("argv", "seconds", "message"),
    [([], 1, "^argv is empty: give at least the program to run$"), (["true"], 0, "^timeout must be positive, got 0$")],
)
@pytest.mark.asyncio
async def test_bad_arguments_are_refused_before_anything_runs(argv: list[str], seconds: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await run(argv, timeout=seconds)


# ----- the mistakes, shown with asyncio's own API -----


@pytest.mark.asyncio
async def test_wait_for_alone_stops_the_waiting_not_the_child() -> None:
    proc = await asyncio.create_subprocess_exec(*python("import time; time.sleep(60)"))
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(proc.wait(), timeout=QUICK)

        assert proc.returncode is None
        os.kill(proc.pid, 0)  # no ProcessLookupError: the child is still there
    finally:
        proc.kill()
        await proc.wait()  # what the mistake leaves out: kill, then reap


@pytest.mark.asyncio
async def test_reading_all_of_stdout_before_stderr_hangs_on_a_chatty_child() -> None:
    program = "import sys; sys.stderr.write('x' * 1_000_000); print('done')"
    proc = await asyncio.create_subprocess_exec(
        *python(program), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        # The child is stuck writing to a full stderr pipe that nobody reads,
        # so stdout never ends; without this timeout the test would hang.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(QUICK):
                await proc.stdout.read()
    finally:
        proc.kill()
        await proc.communicate()
