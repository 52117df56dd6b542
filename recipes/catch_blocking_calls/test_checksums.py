"""Catch blocking calls on the event loop with blockbuster, and prove offloaded work keeps the loop free."""

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pytest
from blockbuster import BlockBuster, BlockingError, blockbuster_ctx

from . import checksums
from .checksums import checksum, checksum_many, file_sha256

CONTENT = b"the quick brown fox jumps over the lazy dog\n" * 2000  # 88 kB: more than one chunk
EXPECTED = hashlib.sha256(CONTENT).hexdigest()
WAIT = 2  # seconds; only reached when something is broken


@pytest.fixture
def blockbuster() -> Iterator[BlockBuster]:
    """A blocking call made on a running event loop raises BlockingError; leaving the block undoes it."""
    with blockbuster_ctx() as detector:
        yield detector


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)  # a sync fixture runs outside the loop: blocking here is fine
    return path


@pytest.mark.asyncio
async def test_offloaded_checksum_passes_under_blockbuster(blockbuster: BlockBuster, data_file: Path) -> None:
    assert await checksum(data_file) == EXPECTED


@pytest.mark.asyncio
async def test_reading_a_file_on_the_loop_raises_blocking_error(blockbuster: BlockBuster, data_file: Path) -> None:
    with pytest.raises(BlockingError, match=r"Blocking call to io\.BufferedReader\.read"):
        file_sha256(data_file)  # the blocking function, called straight from the coroutine


@pytest.mark.asyncio
async def test_the_loop_keeps_running_other_tasks_while_a_thread_hashes(
    blockbuster: BlockBuster, data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hashing thread waits until a heartbeat task has ticked three times: it
    # can only finish if the loop keeps running other tasks meanwhile. No timing.
    ticked = threading.Event()

    def hash_once_ticked(path: checksums.StrPath) -> str:
        if not ticked.wait(timeout=WAIT):
            raise TimeoutError("the heartbeat never ticked: the event loop was blocked")
        return file_sha256(path)

    async def heartbeat() -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        ticked.set()

    monkeypatch.setattr(checksums, "file_sha256", hash_once_ticked)
    ticker = asyncio.create_task(heartbeat())
    async with asyncio.timeout(WAIT):
        assert await checksum(data_file) == EXPECTED
    assert ticker.done()


@pytest.mark.asyncio
async def test_checksum_many_hashes_each_file_in_the_default_pool(blockbuster: BlockBuster, data_file: Path) -> None:
    empty = data_file.with_name("empty.bin")
    await asyncio.to_thread(empty.write_bytes, b"")  # writing a file in the test: in a thread too

    assert await checksum_many([data_file, str(empty)]) == [EXPECTED, hashlib.sha256(b"").hexdigest()]
    assert await checksum_many([]) == []


@pytest.mark.asyncio
async def test_checksum_many_raises_the_error_of_a_missing_file(data_file: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        await checksum_many([data_file, data_file.with_name("missing.bin"), data_file])


P = ParamSpec("P")
T = TypeVar("T")


class HeldExecutor(Executor):
    """Runs nothing: each job waits, keyed by its path, until the test finishes it by hand."""

    def __init__(self) -> None:
        self.jobs: dict[object, Future[Any]] = {}

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        job: Future[T] = Future()
        self.jobs[args[0]] = job
        return job


@pytest.mark.asyncio
async def test_checksum_many_raises_an_error_only_once_every_other_file_is_done() -> None:
    executor = HeldExecutor()
    call = asyncio.create_task(checksum_many(["slow.bin", "missing.bin", "fast.bin"], executor))
    await asyncio.sleep(0)  # the call hands every job to the given executor, then waits
    assert set(executor.jobs) == {"slow.bin", "missing.bin", "fast.bin"}

    executor.jobs["fast.bin"].set_exception(PermissionError("fast.bin"))
    executor.jobs["missing.bin"].set_exception(FileNotFoundError("missing.bin"))
    for _ in range(10):  # ample turns of the loop for an early error to come out
        await asyncio.sleep(0)
    assert not call.done()  # still waiting for slow.bin, which cannot be cancelled

    executor.jobs["slow.bin"].set_result("0" * 64)
    with pytest.raises(FileNotFoundError, match=r"^missing\.bin$"):  # the first failure in the order given
        async with asyncio.timeout(WAIT):
            await call
