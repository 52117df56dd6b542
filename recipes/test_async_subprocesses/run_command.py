"""Run a command, stream its output line by line, and never leave it running.

POSIX only: the child gets a session (process group) of its own, so a timeout
or a cancellation kills it together with anything it started, and the child
is always reaped and its pipes drained before ``run`` returns or raises. Its
standard input is empty (``/dev/null``): a command that asks a question reads
end-of-file instead of the caller's input.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_LINE = 64 * 1024  # bytes; asyncio's own default limit for one line


class CommandError(Exception):
    """The command could not be run to a successful end."""


class CommandNotFound(CommandError):
    """There is no executable by that name."""


class CommandFailed(CommandError):
    """The command exited with a non-zero status, or was killed by a signal."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str, lines: list[str]) -> None:
        if returncode < 0:
            status = f"was killed by signal {signal.Signals(-returncode).name}"
        else:
            status = f"exited with status {returncode}"
        last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "(no stderr)")
        super().__init__(f"{argv[0]} {status}: {last}")
        self.returncode = returncode
        self.stderr = stderr
        self.lines = lines


class CommandTimedOut(CommandError):
    """The command ran longer than its timeout and was killed."""

    def __init__(self, argv: Sequence[str], timeout: float, pid: int, lines: list[str]) -> None:
        super().__init__(f"{argv[0]} timed out after {timeout} s and was killed")
        self.pid = pid
        self.lines = lines


@dataclass
class Output:
    lines: list[str]
    stderr: str


async def run(
    argv: Sequence[str],
    *,
    timeout: float,  # noqa: ASYNC109 - expiry must kill the child, not only stop waiting for it
    on_line: Callable[[str], object] | None = None,
    max_line: int = MAX_LINE,
) -> Output:
    """Run ``argv`` (no shell), hand each stdout line to ``on_line`` as it arrives, and return all of them.

    Raises ``CommandNotFound``, ``CommandFailed`` (non-zero exit, with stderr),
    ``CommandTimedOut`` (after killing the child) or ``ValueError`` for a line
    longer than ``max_line`` bytes.
    """
    if not argv:
        raise ValueError("argv is empty: give at least the program to run")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=max_line,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise CommandNotFound(f"no such executable: {argv[0]!r}") from exc
    assert proc.stdout is not None
    assert proc.stderr is not None
    # Read stderr while reading stdout: a child blocked on a full stderr pipe
    # would otherwise never finish writing stdout, and both sides would wait forever.
    stderr = asyncio.create_task(proc.stderr.read())
    lines: list[str] = []
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            while raw := await _read_line(proc.stdout, argv[0], max_line):
                line = raw.decode(errors="replace").rstrip("\r\n")
                lines.append(line)
                if on_line is not None:
                    on_line(line)
            returncode = await proc.wait()
            await stderr
    except BaseException as exc:  # the deadline, a cancellation, a line too long, a failing on_line
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started
        await asyncio.wait([stderr])  # ends at EOF, now that the writers are dead
        if isinstance(exc, TimeoutError) and deadline.expired():
            raise CommandTimedOut(argv, timeout, proc.pid, lines) from None
        raise
    finally:
        await proc.communicate()  # reap the child and drain stdout: no zombie, no open transport
    if returncode != 0:
        raise CommandFailed(argv, returncode, stderr.result().decode(errors="replace"), lines)
    return Output(lines, stderr.result().decode(errors="replace"))


async def _read_line(stream: asyncio.StreamReader, program: str, max_line: int) -> bytes:
    try:
        return await stream.readline()
    except ValueError as exc:  # asyncio: "Separator is not found, and chunk exceed the limit"
        raise ValueError(f"{program} printed a line longer than {max_line} bytes") from exc
