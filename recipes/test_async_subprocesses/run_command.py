"""Run a command, stream its output line by line, and never leave it running.

POSIX only: the child gets a process group of its own, so a timeout, a cancellation or
any error kills it with anything it started; it is reaped before ``run`` ends, even when
the caller cancels once more during that clean-up.
"""

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass


class CommandFailed(Exception):
    """The command exited with a non-zero status, or was killed by a signal."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        status = f"exited with status {returncode}"
        if returncode < 0:
            status = f"was killed by signal {signal.Signals(-returncode).name}"
        last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "(no stderr)")
        super().__init__(f"{argv[0]} {status}: {last}")
        self.returncode, self.stderr = returncode, stderr


class CommandNotStarted(Exception):
    """The program could not be executed (not found, not executable, ...): nothing ran."""


class CommandTimedOut(Exception):
    """The command ran longer than its timeout and was killed."""

    def __init__(self, argv: Sequence[str], timeout: float, pid: int) -> None:
        super().__init__(f"{argv[0]} timed out after {timeout} s and was killed")
        self.pid = pid


@dataclass
class Output:
    lines: list[str]
    stderr: str


async def run(
    argv: Sequence[str],
    *,
    timeout: float,  # noqa: ASYNC109 - expiry must kill the child, not only stop waiting for it
    on_line: Callable[[str], object] | None = None,
    max_line: int = 64 * 1024,  # bytes; asyncio's own default limit for one line
) -> Output:
    """Run ``argv`` (no shell), hand each stdout line to ``on_line`` as it arrives, and return them all.

    Raises ``CommandNotStarted``, ``CommandFailed`` (with stderr), ``CommandTimedOut`` (the child killed), or
    what asyncio raised.
    """
    try:
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=pipe, stderr=pipe, limit=max_line, start_new_session=True
        )
    except OSError as exc:  # raised before any child existed: nothing to kill or reap
        raise CommandNotStarted(f"cannot run {argv[0]}: {exc.strerror}") from exc
    assert proc.stdout is not None
    assert proc.stderr is not None
    # Read stderr all along: a child blocked on a full stderr pipe would never finish its stdout.
    stderr = asyncio.create_task(proc.stderr.read())
    lines: list[str] = []
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            while raw := await proc.stdout.readline():
                lines.append(raw.decode(errors="replace").rstrip("\r\n"))
                if on_line is not None:
                    on_line(lines[-1])
            returncode = await proc.wait()
            await stderr
    except BaseException as exc:  # the deadline, a cancellation, a line too long, a failing on_line
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started
        await asyncio.wait([stderr])  # ends at EOF, now that the writers are dead
        if isinstance(exc, TimeoutError) and deadline.expired():
            raise CommandTimedOut(argv, timeout, proc.pid) from None
        raise
    finally:
        stderr.cancel()  # if a second cancel cut that wait short, a reader left waiting breaks communicate()
        await asyncio.wait([stderr])
        await proc.communicate()  # reap the child and drain stdout: no zombie, no open transport
    if returncode != 0:
        raise CommandFailed(argv, returncode, stderr.result().decode(errors="replace"))
    return Output(lines, stderr.result().decode(errors="replace"))
