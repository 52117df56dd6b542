"""Cancel a long-running task and prove it stopped cleanly: no sleeps, every wait bounded."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .worker import Pool, Worker, finish_even_if_cancelled


class Harness:
    """The worker's world: a pool of one connection, a job queue, and a two-step commit a test can hold."""

    task: asyncio.Task[None]  # the worker, running

    def __init__(self) -> None:
        self.pool, self.jobs = Pool("db-1"), asyncio.Queue[str]()
        self.entries: list[str] = []
        self.writing, self.gate = asyncio.Event(), asyncio.Event()

    async def commit(self, job: str) -> None:
        self.entries.append(f"{job}: begin")
        self.writing.set()
        await self.gate.wait()  # a test holds the commit half-way by keeping the gate shut
        self.entries.append(f"{job}: end")  # a "begin" without its "end" is a torn commit


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    rig = Harness()
    worker = Worker(rig.pool, rig.jobs, rig.commit)
    rig.task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.started.wait(), timeout=1)  # an Event, not `await asyncio.sleep(0.01)`
    yield rig
    rig.gate.set()  # stop a worker a failing test left running; a held commit would keep it alive
    rig.task.cancel()
    await asyncio.wait_for(asyncio.gather(rig.task, return_exceptions=True), timeout=1)


@pytest.mark.asyncio
async def test_a_cancelled_worker_ends_cancelled_and_gives_its_connection_back(harness: Harness) -> None:
    harness.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(harness.task, timeout=1)  # cancel() only asks: await the task to see it end
    assert harness.task.cancelled()
    assert harness.pool.idle == ["db-1"]  # checked on the resource, not on a flag


@pytest.mark.asyncio
async def test_a_cancel_during_a_commit_lets_the_commit_finish_then_stops(harness: Harness) -> None:
    harness.jobs.put_nowait("order-1")
    await asyncio.wait_for(harness.writing.wait(), timeout=1)  # the commit is now held half-way

    harness.task.cancel()
    for _ in range(3):
        await asyncio.sleep(0)  # checkpoints: give the cancellation every chance to land

    # Requested, not yet done: the worker waits for its commit, connection still held.
    assert not harness.task.done()
    assert harness.task.cancelling() == 1
    assert harness.pool.idle == []

    harness.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(harness.task, timeout=1)
    assert harness.entries == ["order-1: begin", "order-1: end"]
    assert harness.pool.idle == ["db-1"]
    await asyncio.wait_for(harness.jobs.join(), timeout=1)  # task_done() was called for the job


@pytest.mark.asyncio
async def test_jobs_are_committed_until_the_worker_is_cancelled(harness: Harness) -> None:
    harness.gate.set()
    for job in ("a", "b"):
        harness.jobs.put_nowait(job)
    await asyncio.wait_for(harness.jobs.join(), timeout=1)

    assert harness.entries == ["a: begin", "a: end", "b: begin", "b: end"]
    assert not harness.task.done()  # still waiting for the next job


@pytest.mark.asyncio
async def test_a_second_cancel_does_not_tear_the_commit_either(harness: Harness) -> None:
    harness.jobs.put_nowait("order-2")
    await asyncio.wait_for(harness.writing.wait(), timeout=1)

    harness.task.cancel()
    await asyncio.sleep(0)
    harness.task.cancel()  # e.g. a shutdown that loses patience
    await asyncio.sleep(0)
    assert harness.task.cancelling() == 2
    assert not harness.task.done()

    harness.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(harness.task, timeout=1)
    assert harness.entries == ["order-2: begin", "order-2: end"]
    assert harness.pool.idle == ["db-1"]


@pytest.mark.asyncio
async def test_finish_even_if_cancelled_returns_the_result_when_nobody_cancels() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await finish_even_if_cancelled(answer()) == 42
