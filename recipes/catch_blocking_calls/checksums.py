"""File checksums computed off the event loop.

Reading and hashing a file blocks: done in a coroutine, it freezes every other
task until it returns. ``file_sha256`` is that blocking function; ``checksum``
and ``checksum_many`` hand it to worker threads, so the loop keeps serving other
tasks while the disk and the CPU are busy.
"""

import asyncio
import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import Executor

CHUNK_SIZE = 64 * 1024

StrPath = str | os.PathLike[str]


def file_sha256(path: StrPath) -> str:
    """Blocking: read ``path`` in chunks and return its SHA-256 as hex. Never call it on the loop."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


async def checksum(path: StrPath) -> str:
    """The SHA-256 of one file, computed in the loop's default thread pool."""
    return await asyncio.to_thread(file_sha256, path)


async def checksum_many(paths: Sequence[StrPath], executor: Executor | None = None) -> list[str]:
    """The SHA-256 of each file, in order, computed in parallel on ``executor`` (None: the default pool).

    A thread cannot be cancelled, so the first error (in the order given) is raised
    only once every other file is done: no thread keeps working behind the caller's back.
    """
    loop = asyncio.get_running_loop()
    jobs = [loop.run_in_executor(executor, file_sha256, path) for path in paths]
    await asyncio.gather(*jobs, return_exceptions=True)
    return [job.result() for job in jobs]
