"""Cancel a long-running task and prove it stopped cleanly: no sleeps, every wait bounded."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio

from .worker import Pool, PoolExhaustedError, Worker, finish_even_if_cancelled


@dataclass
class Ledger:
    """The commit target: a two-step write that a test can hold half-way with `gate`."""

    entries: list[str] = field(default_factory=list)
    writing: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def commit(self, job: str) -> None:
        if job == "poison":
            raise ValueError(f"cannot commit {job!r}")
        self.entries.append(f"{job}: begin")
        self.writing.set()
        await self.gate.wait()
        self.entries.append(f"{job}: end")  # a "begin" without its "end" is a torn commit


async def wait_until_set(event: asyncio.Event) -> None:
    async with asyncio.timeout(1):  # a worker that never gets there fails the test, not hangs it
        await event.wait()


async def cancel_and_confirm(task: asyncio.Task[object]) -> None:
    """Cancel ``task`` and fail unless it really ended as cancelled."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(1):
            await task
    assert task.cancelled()


@dataclass
class Harness:
    pool: Pool
    jobs: asyncio.Queue[str]
    ledger: Ledger
    worker: Worker


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    pool, jobs, ledger = Pool(size=1), asyncio.Queue[str](), Ledger()
    yield Harness(pool, jobs, ledger, Worker(pool, jobs, ledger.commit))
    ledger.gate.set()  # let any commit still held by a failing test finish


@pytest_asyncio.fixture
async def running(harness: Harness) -> AsyncIterator[asyncio.Task[None]]:
    """The worker as a task, already holding its slot; cancelled at teardown if a test left it running."""
    task = asyncio.create_task(harness.worker.run())
    await wait_until_set(harness.worker.started)  # an Event, not `await asyncio.sleep(0.01)`
    yield task
    harness.ledger.gate.set()  # a commit held by the test would otherwise keep the worker alive
    task.cancel()
    async with asyncio.timeout(1):
        await asyncio.gather(task, return_exceptions=True)


# --- The clean path --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cancelling_the_worker_raises_cancelled_error_from_the_awaited_task(
    running: asyncio.Task[None],
) -> None:
    running.cancel()

    with pytest.raises(asyncio.CancelledError):
        await running
    assert running.cancelled()


@pytest.mark.asyncio
async def test_cleanup_gives_the_pool_slot_back(harness: Harness, running: asyncio.Task[None]) -> None:
    assert harness.pool.in_use == 1

    await cancel_and_confirm(running)

    assert harness.pool.in_use == 0
    harness.pool.acquire()  # the slot really is free again


@pytest.mark.asyncio
async def test_jobs_are_committed_until_the_worker_is_cancelled(harness: Harness, running: asyncio.Task[None]) -> None:
    harness.ledger.gate.set()
    for job in ("a", "b"):
        harness.jobs.put_nowait(job)
    async with asyncio.timeout(1):
        await harness.jobs.join()

    await cancel_and_confirm(running)

    assert harness.ledger.entries == ["a: begin", "a: end", "b: begin", "b: end"]


@pytest.mark.asyncio
async def test_a_cancel_during_a_commit_lets_the_commit_finish_then_stops(
    harness: Harness, running: asyncio.Task[None]
) -> None:
    harness.jobs.put_nowait("order-1")
    await wait_until_set(harness.ledger.writing)

    running.cancel()
    for _ in range(3):
        await asyncio.sleep(0)  # checkpoints: give the cancellation every chance to land

    # Requested, not yet done: the worker waits for its commit, slot still held.
    assert not running.done()
    assert running.cancelling() == 1
    assert harness.pool.in_use == 1

    harness.ledger.gate.set()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(1):
            await running

    assert harness.ledger.entries == ["order-1: begin", "order-1: end"]
    assert harness.pool.in_use == 0
    async with asyncio.timeout(1):
        await harness.jobs.join()  # task_done() was called for the job


@pytest.mark.asyncio
async def test_a_second_cancel_does_not_tear_the_commit_either(harness: Harness, running: asyncio.Task[None]) -> None:
    harness.jobs.put_nowait("order-2")
    await wait_until_set(harness.ledger.writing)

    running.cancel()
    await asyncio.sleep(0)
    running.cancel()  # e.g. a shutdown that loses patience
    await asyncio.sleep(0)
    assert running.cancelling() == 2
    assert not running.done()

    harness.ledger.gate.set()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(1):
            await running

    assert harness.ledger.entries == ["order-2: begin", "order-2: end"]
    assert harness.pool.in_use == 0


@pytest.mark.asyncio
async def test_finish_even_if_cancelled_returns_the_result_when_nobody_cancels() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await finish_even_if_cancelled(answer()) == 42


# --- Why the worker is written this way -------------------------------------------------


@pytest.mark.asyncio
async def test_shield_alone_lets_the_caller_leave_while_the_commit_still_runs(harness: Harness) -> None:
    commits: list[asyncio.Future[None]] = []

    async def naive_run() -> None:
        harness.pool.acquire()
        try:
            commits.append(asyncio.ensure_future(harness.ledger.commit("order-3")))
            await asyncio.shield(commits[0])  # shielded, but nobody waits for it on cancel
        finally:
            harness.pool.release()

    task = asyncio.create_task(naive_run())
    await wait_until_set(harness.ledger.writing)

    await cancel_and_confirm(task)

    # The caller is gone and its slot is back in the pool, but the commit is half done.
    assert harness.ledger.entries == ["order-3: begin"]
    assert harness.pool.in_use == 0
    harness.ledger.gate.set()
    async with asyncio.timeout(1):
        await commits[0]  # the orphaned commit finishes on its own, later
    assert harness.ledger.entries == ["order-3: begin", "order-3: end"]


@pytest.mark.asyncio
async def test_a_cancel_before_the_first_step_means_the_body_never_ran(harness: Harness) -> None:
    task = asyncio.create_task(harness.worker.run())
    task.cancel()  # no wait at all: the task has not started

    with pytest.raises(asyncio.CancelledError):
        await task

    # No slot was taken, no `finally` ran: a test that cancels too early checks no cleanup at all.
    assert not harness.worker.started.is_set()
    assert harness.pool.in_use == 0


async def swallowing_worker(pool: Pool, started: asyncio.Event) -> str:
    """The bug to catch: it cleans up, but then returns instead of re-raising."""
    pool.acquire()
    try:
        started.set()
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        return "stopped"  # swallowed: the caller cannot tell it was cancelled
    finally:
        pool.release()
    return "finished"


@pytest.mark.asyncio
async def test_a_worker_that_swallows_cancellation_is_caught(harness: Harness) -> None:
    started = asyncio.Event()
    task = asyncio.create_task(swallowing_worker(harness.pool, started))
    await wait_until_set(started)

    with pytest.raises(pytest.fail.Exception, match=r"^DID NOT RAISE CancelledError$"):
        await cancel_and_confirm(task)

    assert not task.cancelled()
    assert task.result() == "stopped"
    assert harness.pool.in_use == 0  # its cleanup ran: only the cancel check can tell it is wrong


# --- Bad input and failures ------------------------------------------------------------


@pytest.mark.parametrize("size", [0, -1, True, 1.5, "2"])
def test_a_pool_needs_a_whole_positive_size(size: object) -> None:
    with pytest.raises(ValueError, match="pool size must be a whole number of at least 1"):
        Pool(size)  # type: ignore[arg-type]  # the point of the test


def test_a_pool_counts_its_slots_and_refuses_an_unmatched_release() -> None:
    pool = Pool(2)
    pool.acquire()
    pool.acquire()
    assert pool.in_use == 2
    with pytest.raises(PoolExhaustedError, match=r"^all 2 slots are in use$"):
        pool.acquire()
    pool.release()
    pool.release()
    with pytest.raises(RuntimeError, match=r"^release\(\) without a matching acquire\(\)$"):
        pool.release()
    assert pool.in_use == 0


@pytest.mark.asyncio
async def test_a_worker_that_finds_the_pool_exhausted_fails_fast_and_releases_nothing(harness: Harness) -> None:
    harness.pool.acquire()  # someone else holds the only slot

    with pytest.raises(PoolExhaustedError, match="all 1 slots are in use"):
        async with asyncio.timeout(1):
            await harness.worker.run()

    assert harness.pool.in_use == 1
    assert not harness.worker.started.is_set()


@pytest.mark.asyncio
async def test_a_worker_cannot_run_twice(harness: Harness, running: asyncio.Task[None]) -> None:
    with pytest.raises(RuntimeError, match=r"^this worker has already run; create a new Worker$"):
        await harness.worker.run()
    assert harness.pool.in_use == 1  # the running one still holds its slot; the second took none


@pytest.mark.asyncio
async def test_a_failing_commit_stops_the_worker_with_its_error_and_frees_the_slot(
    harness: Harness, running: asyncio.Task[None]
) -> None:
    harness.jobs.put_nowait("poison")

    with pytest.raises(ValueError, match="cannot commit 'poison'"):
        async with asyncio.timeout(1):
            await running

    assert harness.pool.in_use == 0
    async with asyncio.timeout(1):
        await harness.jobs.join()
