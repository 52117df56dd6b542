"""File checksums computed off the event loop.

Reading and hashing a file is blocking work: done directly in a coroutine it
freezes every other task until it returns. ``file_sha256`` is the plain blocking
function; the async functions hand it to worker threads, so the loop keeps
serving other tasks while the disk and the CPU are busy.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import Executor

CHUNK_SIZE = 64 * 1024

StrPath = str | os.PathLike[str]


def file_sha256(path: StrPath, chunk_size: int = CHUNK_SIZE) -> str:
    """Blocking: read ``path`` in chunks and return its SHA-256 as hex. Never call it on the loop."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1 byte, got {chunk_size}")
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


async def checksum(path: StrPath, chunk_size: int = CHUNK_SIZE) -> str:
    """The SHA-256 of one file, computed in the default thread pool."""
    return await asyncio.to_thread(file_sha256, path, chunk_size)


async def checksum_many(paths: Sequence[StrPath], *, executor: Executor | None = None) -> dict[str, str]:
    """The SHA-256 of each file, keyed by path as a string, computed in parallel on ``executor``.

    ``executor=None`` means the loop's default thread pool. A file named twice is
    hashed once. If any file fails, the error of the first one that failed, in
    the order given, is raised once every other file has finished.
    """
    if isinstance(paths, (str, os.PathLike)):
        raise TypeError("checksum_many takes a sequence of paths; use checksum() for one file")
    loop = asyncio.get_running_loop()
    unique = dict.fromkeys(os.fspath(path) for path in paths)  # in order, each file once
    jobs = {path: loop.run_in_executor(executor, file_sha256, path) for path in unique}
    # A thread cannot be cancelled: wait for every job, and only then report.
    await asyncio.gather(*jobs.values(), return_exceptions=True)
    return {path: job.result() for path, job in jobs.items()}
