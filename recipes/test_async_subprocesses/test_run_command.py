"""Subprocesses under test: output, exit codes, timeouts, and a child that is really gone.

Every child is ``sys.executable -c <program>``. A slow child sleeps in its own process;
no test waits for it: a timeout of a few milliseconds, or a cancel once it has spoken.
"""

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from .run_command import CommandFailed, CommandNotStarted, CommandTimedOut, run

WAIT = 5  # seconds; only reached when something is broken
PROGRAM = re.escape(sys.executable)  # error messages start with the program's name
SLOW_CHILD = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"


def python(program: str) -> list[str]:
    return [sys.executable, "-c", program]


def assert_gone(pid: int) -> None:
    # A zombie (exited, not yet reaped) still answers signal 0: only a reaped child is gone.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.asyncio
async def test_the_timeout_kills_and_reaps_the_child() -> None:
    started = asyncio.get_running_loop().time()

    with pytest.raises(CommandTimedOut, match=rf"^{PROGRAM} timed out after 0\.05 s and was killed$") as caught:
        await run(python(SLOW_CHILD), timeout=0.05)  # the only real wait in this file

    assert asyncio.get_running_loop().time() - started < WAIT  # it did not sit out the child's 60 s sleep
    assert_gone(caught.value.pid)


@pytest.mark.asyncio
async def test_output_lines_come_back_in_order_with_stderr_on_the_side() -> None:
    program = "import sys; print('one'); print('  two  '); print('careful', file=sys.stderr); print('LaTeX')"

    output = await run(python(program), timeout=WAIT)

    assert output.lines == ["one", "  two  ", "LaTeX"]  # only the line break is cut
    assert output.stderr == "careful\n"


async def first_line_then_cancel(program: str) -> str:
    """Start ``run``, wait until the child prints its first line, cancel, and return that line."""
    first: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    running = asyncio.create_task(run(python(program), timeout=WAIT, on_line=first.set_result))
    async with asyncio.timeout(WAIT):
        line = await first
        assert not running.done()  # the child still runs, and its line is already here
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    return line


@pytest.mark.asyncio
async def test_each_line_is_handed_over_while_the_child_still_runs_and_cancelling_kills_it() -> None:
    pid = await first_line_then_cancel(SLOW_CHILD)

    assert_gone(int(pid))


@pytest.mark.asyncio
async def test_a_non_zero_exit_is_an_error_that_carries_stderr() -> None:
    program = "import sys; print('partial'); sys.stderr.buffer.write(b'caf\\xe9\\nboom: disk full\\n\\n'); sys.exit(3)"

    with pytest.raises(CommandFailed, match=f"^{PROGRAM} exited with status 3: boom: disk full$") as caught:
        await run(python(program), timeout=WAIT)

    assert caught.value.returncode == 3
    assert caught.value.stderr == "caf\ufffd\nboom: disk full\n\n"  # not UTF-8: replaced, not fatal


@pytest.mark.asyncio
async def test_what_the_child_started_is_killed_too() -> None:
    # The grandchild holds the same stdout pipe. If it survived, stdout would never
    # reach end-of-file and the cancelled run could not finish: WAIT would expire.
    spawns = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    assert await first_line_then_cancel(spawns + "print('spawned', flush=True); time.sleep(60)") == "spawned"


@pytest.mark.asyncio
async def test_a_child_killed_by_a_signal_is_reported_by_name() -> None:
    program = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"

    with pytest.raises(CommandFailed, match=rf"^{PROGRAM} was killed by signal SIGTERM: \(no stderr\)$") as caught:
        await run(python(program), timeout=WAIT)

    assert caught.value.returncode == -signal.SIGTERM


@pytest.mark.asyncio
async def test_a_child_that_floods_stderr_does_not_deadlock() -> None:
    output = await run(python("import sys; sys.stderr.write('x' * 1_000_000); print('done')"), timeout=WAIT)

    assert output.lines == ["done"]
    assert len(output.stderr) == 1_000_000


@pytest.mark.asyncio
async def test_a_line_over_the_limit_is_refused_and_the_child_killed() -> None:
    program = "import sys, time; sys.stdout.write('x' * 5000); sys.stdout.flush(); time.sleep(60)"

    async with asyncio.timeout(WAIT):  # a child left running would keep run() waiting for it
        with pytest.raises(ValueError, match=r"^Separator is not found, and chunk exceed the limit$"):
            await run(python(program), timeout=WAIT, max_line=1024)


@pytest.mark.asyncio
async def test_output_that_is_not_utf8_is_replaced_not_fatal() -> None:
    program = "import sys; sys.stdout.buffer.write(b'caf\\xe9\\r\\n'); sys.stderr.buffer.write(b'na\\xefve')"
    output = await run(python(program), timeout=WAIT)
    assert output.lines == ["caf\ufffd"]
    assert output.stderr == "na\ufffdve"


@pytest.mark.asyncio
async def test_an_error_in_the_line_callback_stops_and_reaps_the_child() -> None:
    pids: list[str] = []

    def broken_consumer(line: str) -> None:
        pids.append(line)
        raise TimeoutError("consumer gave up")

    # The callback's own TimeoutError stays itself: only the deadline becomes CommandTimedOut.
    with pytest.raises(TimeoutError, match=r"^consumer gave up$"):
        await run(python(SLOW_CHILD), timeout=WAIT, on_line=broken_consumer)

    assert_gone(int(pids[0]))


@pytest.mark.asyncio
async def test_a_child_already_gone_when_run_gives_up_does_not_hide_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # The race, made certain: the child exited and was reaped just before the kill, so no group is left.
    def no_such_group(pgid: int, sig: int) -> None:
        raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(os, "killpg", no_such_group)
    with pytest.raises(ValueError, match=r"^invalid literal for int\(\) with base 10: 'last words'$"):
        await run(python("print('last words')"), timeout=WAIT, on_line=int)  # a consumer that cannot parse it


@pytest.mark.asyncio
async def test_a_second_cancel_during_cleanup_still_raises_cancelled_and_reaps(monkeypatch: pytest.MonkeyPatch) -> None:
    loop, real_killpg = asyncio.get_running_loop(), os.killpg

    def kill_then_cancel_again(pgid: int, sig: int) -> None:
        loop.call_soon(real_killpg, pgid, sig)  # a turn late: the stderr reader surely still waits for EOF
        cleanup = asyncio.current_task()
        assert cleanup is not None
        cleanup.cancel()  # the caller gives up again while run waits for stderr to end

    monkeypatch.setattr(os, "killpg", kill_then_cancel_again)
    assert_gone(int(await first_line_then_cancel(SLOW_CHILD)))  # CancelledError, not RuntimeError


@pytest.mark.asyncio
async def test_a_program_that_cannot_be_executed_is_one_clear_error(tmp_path: Path) -> None:
    not_executable = tmp_path / "tool.sh"
    not_executable.write_text("echo hi\n")

    with pytest.raises(CommandNotStarted, match=r"^cannot run /nonexistent/tool: No such file or directory$"):
        await run(["/nonexistent/tool"], timeout=WAIT)
    with pytest.raises(CommandNotStarted, match=rf"^cannot run {re.escape(str(not_executable))}: Permission denied$"):
        await run([str(not_executable)], timeout=WAIT)
