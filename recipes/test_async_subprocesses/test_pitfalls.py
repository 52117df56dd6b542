"""Subprocess mistakes, shown with asyncio's own API: each with the error (or the hang) it gives."""

import asyncio
import os
import sys
from pathlib import Path

import pytest

QUICK = 0.05  # seconds; a timeout that is meant to expire
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.mark.asyncio
async def test_wait_for_alone_stops_the_waiting_not_the_child() -> None:
    proc = await asyncio.create_subprocess_exec(*SLEEPER)
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
        sys.executable, "-c", program, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
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


@pytest.mark.asyncio
async def test_a_program_that_cannot_run_raises_a_raw_os_error_at_the_start(tmp_path: Path) -> None:
    # create_subprocess_exec raises at once, before any child exists: `run` turns both into CommandNotStarted.
    # asyncio's loop names the path (`...: '/nonexistent/tool'`); uvloop's does not.
    with pytest.raises(FileNotFoundError, match=r"^\[Errno 2\] No such file or directory"):
        await asyncio.create_subprocess_exec("/nonexistent/tool")
    script = tmp_path / "tool.sh"
    script.write_text("echo hi\n")  # no execute bit: even root may not run it
    with pytest.raises(PermissionError, match=r"^\[Errno 13\] Permission denied"):
        await asyncio.create_subprocess_exec(script)
