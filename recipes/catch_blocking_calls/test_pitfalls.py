"""Blocking calls that slip onto the event loop, and what they do: each with the error text users see."""

import asyncio
import threading
import time
from pathlib import Path

import pytest
from blockbuster import BlockingError, blockbuster_ctx

pytest_plugins = ["pytester"]

# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
LEAN = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]


@pytest.mark.asyncio
async def test_time_sleep_on_the_loop_raises_blocking_error() -> None:
    # Often hidden in a retry helper or a sync client; use `await asyncio.sleep(...)`.
    with blockbuster_ctx(), pytest.raises(BlockingError, match=r"^Blocking call to time\.sleep"):
        time.sleep(0)  # noqa: ASYNC251 - the blocking call is the point
    await asyncio.to_thread(time.sleep, 0)  # the same call in a worker thread is fine


@pytest.mark.asyncio
async def test_writing_a_file_inside_the_async_test_is_caught_too(tmp_path: Path) -> None:
    # Test data belongs in a sync fixture, or in `await asyncio.to_thread(path.write_bytes, ...)`.
    with blockbuster_ctx(), pytest.raises(BlockingError, match=r"^Blocking call to io\.BufferedWriter\.write"):
        (tmp_path / "setup.bin").write_bytes(b"data")


@pytest.mark.asyncio
async def test_the_same_work_on_the_loop_freezes_every_other_task() -> None:
    # No blockbuster here: this is what it protects you from. A blocking wait on the
    # loop for something another task must do can never succeed; it only times out.
    ticked = threading.Event()

    async def heartbeat() -> None:
        ticked.set()

    ticker = asyncio.create_task(heartbeat())
    assert not ticked.wait(timeout=0.02)  # blocks the loop for 20 ms: the heartbeat gets no turn
    await ticker  # the loop is free again: now it runs
    assert ticked.is_set()


def test_blockbuster_fails_a_blocking_test_and_stays_off_for_the_next(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
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

    result = pytester.runpytest(*LEAN, "-rf")  # in file order: the last test runs after the failing one

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   *blockbuster.BlockingError: Blocking call to io.BufferedReader.read",
            "FAILED *::test_hashes_on_the_loop*",
        ]
    )
