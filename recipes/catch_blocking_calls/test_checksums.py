"""Catch blocking calls on the event loop with blockbuster, and prove offloaded work keeps the loop free."""

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pytest
from blockbuster import BlockBuster, BlockingError, blockbuster_ctx

from . import checksums
from .checksums import CHUNK_SIZE, checksum, checksum_many, file_sha256

P = ParamSpec("P")
T = TypeVar("T")

WAIT = 2  # seconds; only reached when something is broken
CONTENT = b"the quick brown fox jumps over the lazy dog\n" * 200  # 8800 bytes
EXPECTED = hashlib.sha256(CONTENT).hexdigest()
REAL_SLEEP = time.sleep  # taken at import, before any test switches detection on


@pytest.fixture
def blockbuster() -> Iterator[BlockBuster]:
    """During the test, a blocking call made on a running event loop raises ``BlockingError``.

    blockbuster patches functions process-wide (time.sleep, file reads, socket
    calls, lock waits ...). Leaving the ``with`` block puts the originals back,
    also when the test failed, so nothing leaks into the next test.
    """
    with blockbuster_ctx() as detector:
        yield detector


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    # A sync fixture runs outside the event loop, so writing the file here is fine.
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    return path


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that counts the work handed to it."""

    submitted = 0

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def executor() -> Iterator[CountingExecutor]:
    # Created and shut down outside the loop: shutdown(wait=True) joins threads, which blocks.
    with CountingExecutor(max_workers=2, thread_name_prefix="hasher") as pool:
        yield pool


class HeldExecutor(Executor):
    """Runs nothing: each job waits, keyed by its path, until the test finishes it by hand."""

    def __init__(self) -> None:
        self.jobs: dict[object, Future[Any]] = {}

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        job: Future[T] = Future()
        self.jobs[args[0]] = job
        return job


def hash_after(go: threading.Event, wait: float) -> Callable[[checksums.StrPath, int], str]:
    """``file_sha256`` that first waits, for at most ``wait`` seconds, until ``go`` is set."""

    def gated(path: checksums.StrPath, chunk_size: int = CHUNK_SIZE) -> str:
        if not go.wait(timeout=wait):
            raise TimeoutError("nobody set the event: the event loop was blocked")
        return file_sha256(path, chunk_size)

    return gated


@pytest.mark.asyncio
async def test_offloaded_checksum_passes_under_blockbuster(blockbuster: BlockBuster, data_file: Path) -> None:
    assert await checksum(data_file) == EXPECTED


@pytest.mark.asyncio
async def test_reading_a_file_on_the_loop_raises_blocking_error(blockbuster: BlockBuster, data_file: Path) -> None:
    with pytest.raises(BlockingError, match=r"Blocking call to io\.BufferedReader\.read"):
        file_sha256(data_file)  # the blocking function, called straight from the coroutine


@pytest.mark.asyncio
async def test_time_sleep_on_the_loop_raises_blocking_error(blockbuster: BlockBuster) -> None:
    with pytest.raises(BlockingError, match=r"Blocking call to time\.sleep"):
        time.sleep(0)  # noqa: ASYNC251 - the blocking call is the point
    await asyncio.to_thread(time.sleep, 0)  # the same call in a worker thread is fine


@pytest.mark.asyncio
async def test_writing_a_file_inside_the_async_test_is_caught_too(blockbuster: BlockBuster, tmp_path: Path) -> None:
    with pytest.raises(BlockingError, match=r"Blocking call to io\.BufferedWriter\.write"):
        (tmp_path / "setup.bin").write_bytes(CONTENT)  # belongs in a sync fixture, like data_file


def test_blocking_calls_outside_a_running_loop_are_allowed(blockbuster: BlockBuster, data_file: Path) -> None:
    # Only the thread that runs an event loop is policed.
    assert file_sha256(data_file) == EXPECTED


def test_leaving_blockbuster_ctx_restores_the_real_functions() -> None:
    with blockbuster_ctx():
        assert time.sleep is not REAL_SLEEP
    assert time.sleep is REAL_SLEEP


@pytest.mark.asyncio
async def test_the_loop_keeps_running_other_tasks_while_a_thread_hashes(
    blockbuster: BlockBuster, data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hashing thread waits until the heartbeat has ticked three times; it can
    # only finish if the loop keeps running other tasks while the thread works.
    ticked = threading.Event()
    monkeypatch.setattr(checksums, "file_sha256", hash_after(ticked, WAIT))
    beats = 0

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            beats += 1
            if beats == 3:
                ticked.set()
            await asyncio.sleep(0)

    ticker = asyncio.create_task(heartbeat())
    try:
        async with asyncio.timeout(WAIT):
            digest = await checksum(data_file)
    finally:
        ticker.cancel()

    assert digest == EXPECTED
    assert beats >= 3


@pytest.mark.asyncio
async def test_the_same_work_on_the_loop_freezes_every_other_task(data_file: Path) -> None:
    # No blockbuster here: this is what it protects you from.
    ticked = threading.Event()
    beats = 0

    async def heartbeat() -> None:
        nonlocal beats
        beats += 1
        ticked.set()

    ticker = asyncio.create_task(heartbeat())
    with pytest.raises(TimeoutError, match="event loop was blocked"):
        hash_after(ticked, 0.02)(data_file, CHUNK_SIZE)  # blocks the loop for 20 ms
    assert beats == 0  # the heartbeat never got a turn
    async with asyncio.timeout(WAIT):
        await ticker  # now that the loop is free again, it runs
    assert beats == 1


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, CHUNK_SIZE])
@pytest.mark.asyncio
async def test_the_digest_does_not_depend_on_the_chunk_size(data_file: Path, chunk_size: int) -> None:
    assert await checksum(data_file, chunk_size) == EXPECTED


@pytest.mark.asyncio
async def test_checksum_many_hashes_every_file_on_the_given_executor(
    blockbuster: BlockBuster, data_file: Path, executor: CountingExecutor
) -> None:
    other = data_file.with_name("empty.bin")
    await asyncio.to_thread(other.write_bytes, b"")

    digests = await checksum_many([data_file, str(other), str(data_file)], executor=executor)

    assert digests == {str(data_file): EXPECTED, str(other): hashlib.sha256(b"").hexdigest()}
    assert executor.submitted == 2  # the file named twice was hashed once


@pytest.mark.asyncio
async def test_checksum_many_uses_the_default_pool_when_given_no_executor(
    blockbuster: BlockBuster, data_file: Path
) -> None:
    assert await checksum_many([data_file]) == {str(data_file): EXPECTED}
    assert await checksum_many([]) == {}


@pytest.mark.asyncio
async def test_checksum_many_raises_the_error_of_a_missing_file(data_file: Path) -> None:
    missing = data_file.with_name("missing.bin")

    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        await checksum_many([data_file, missing, data_file])


@pytest.mark.asyncio
async def test_checksum_many_raises_an_error_only_once_every_other_file_is_done() -> None:
    executor = HeldExecutor()
    call = asyncio.create_task(checksum_many(["slow.bin", "missing.bin"], executor=executor))
    await asyncio.sleep(0)  # the call hands both jobs to the executor, then waits
    assert set(executor.jobs) == {"slow.bin", "missing.bin"}

    executor.jobs["missing.bin"].set_exception(FileNotFoundError("missing.bin"))
    for _ in range(10):  # ample turns of the loop for an early error to come out
        await asyncio.sleep(0)
    assert not call.done()  # still waiting for slow.bin, which cannot be cancelled

    executor.jobs["slow.bin"].set_result("0" * 64)
    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        async with asyncio.timeout(WAIT):
            await call


@pytest.mark.asyncio
async def test_bad_input_is_a_clear_error(data_file: Path) -> None:
    with pytest.raises(ValueError, match="chunk_size must be at least 1"):
        await checksum(data_file, 0)
    with pytest.raises(TypeError) as error:
        await checksum_many(str(data_file))  # a str is a sequence too: of one-letter "paths"
    assert str(error.value) == "checksum_many takes a sequence of paths; use checksum() for one file"
    with pytest.raises(TypeError, match="sequence of paths"):
        await checksum_many(data_file)  # type: ignore[arg-type] # a Path is not a sequence at all
    with pytest.raises(IsADirectoryError):
        await checksum(data_file.parent)


def test_blockbuster_fails_a_blocking_test_and_stays_off_for_the_next(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio
        import hashlib
        import time

        import pytest
        from blockbuster import blockbuster_ctx

        @pytest.fixture
        def blockbuster():
            with blockbuster_ctx() as detector:
                yield detector

        @pytest.fixture
        def data_file(tmp_path):
            path = tmp_path / "data.bin"
            path.write_bytes(b"x" * 1000)
            return path

        def sha256_of(path):
            with open(path, "rb") as file:
                return hashlib.sha256(file.read()).hexdigest()

        @pytest.mark.asyncio
        async def test_hashes_on_the_loop(blockbuster, data_file):
            sha256_of(data_file)

        @pytest.mark.asyncio
        async def test_hashes_in_a_thread(blockbuster, data_file):
            await asyncio.to_thread(sha256_of, data_file)

        @pytest.mark.asyncio
        async def test_runs_later_without_the_fixture():
            time.sleep(0)  # blocking, but blockbuster is off again
        """
    )
    # Fixed order: the last test must run after the failing one. -rf lists failures at the end;
    # hypothesis is not needed here and costs ~0.1 s per run.
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:hypothesispytest", "-rf")

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_hashes_on_the_loop*",
            "E   *blockbuster.BlockingError: Blocking call to io.BufferedReader.read",
            "FAILED *::test_hashes_on_the_loop*",
        ]
    )
