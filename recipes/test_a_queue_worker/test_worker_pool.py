"""A queue worker pool: every job handled, poison jobs survived, shutdown drains, producers feel back-pressure.

Nothing here sleeps to "let the workers run": tests wait on conditions the handler
signals, and every wait is bounded, so a bug fails fast instead of hanging the run.
"""

import asyncio

import pytest

from .worker_pool import WorkerPool

WAIT = 2  # seconds; only a bug ever reaches this bound


class Recorder:
    """A job handler that records each job; a negative job is poison and raises."""

    def __init__(self) -> None:
        self.handled: list[int] = []

    async def __call__(self, job: int) -> None:
        await asyncio.sleep(0)  # a real handler awaits something
        if job < 0:
            raise ValueError(f"cannot handle negative job {job}")
        self.handled.append(job)


@pytest.mark.asyncio
async def test_every_submitted_job_is_handled_exactly_once() -> None:
    handler = Recorder()
    async with asyncio.timeout(WAIT), WorkerPool(handler, workers=3, max_pending=4) as pool:
        for job in range(20):  # five times what the queue holds: submit waits for room
            await pool.submit(job)

    # Leaving the block drained the queue, then stopped the workers.
    assert sorted(handler.handled) == list(range(20))
    assert pool.failures == []
    assert all(worker.done() for worker in pool.workers)


@pytest.mark.asyncio
async def test_a_poison_job_is_recorded_and_its_worker_keeps_going() -> None:
    handler = Recorder()
    async with asyncio.timeout(WAIT), WorkerPool(handler, workers=1, max_pending=10) as pool:
        for job in (1, -1, 2, -2, 3):
            await pool.submit(job)

    assert handler.handled == [1, 2, 3]  # the only worker went on after each poison job
    assert [(job, type(error), str(error)) for job, error in pool.failures] == [
        (-1, ValueError, "cannot handle negative job -1"),
        (-2, ValueError, "cannot handle negative job -2"),
    ]


class GatedHandler:
    """A job handler that holds each job until the test lets it go: the test decides what is in progress."""

    def __init__(self) -> None:
        self.handled: list[int] = []
        self.running = 0
        self.gate = asyncio.Semaphore(0)  # each release() lets one held job finish
        self.opened = False
        self.changed = asyncio.Condition()

    async def __call__(self, job: int) -> None:
        async with self.changed:
            self.running += 1
            self.changed.notify_all()
        try:
            if not self.opened:
                await self.gate.acquire()
            self.handled.append(job)
        finally:
            self.running -= 1

    async def wait_running(self, count: int) -> None:
        async with asyncio.timeout(WAIT), self.changed:
            await self.changed.wait_for(lambda: self.running == count)

    def open_fully(self) -> None:
        """Let the held jobs finish, and every later job run straight through."""
        self.opened = True
        for _ in range(self.running):
            self.gate.release()


async def settle() -> None:
    """A few turns of the loop for every ready task: only to show that something does NOT happen."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_shutdown_drains_the_queue_then_stops_every_worker() -> None:
    handler = GatedHandler()
    async with asyncio.timeout(WAIT), WorkerPool(handler, workers=2, max_pending=10) as pool:
        for job in range(6):
            await pool.submit(job)
        await handler.wait_running(2)

        shutting_down = asyncio.create_task(pool.shutdown())
        await settle()
        assert not shutting_down.done()  # still draining:
        assert (handler.running, pool.pending) == (2, 4)  # one job held per worker, four queued
        with pytest.raises(RuntimeError, match=r"^the pool is shutting down and takes no new jobs$"):
            await pool.submit(99)

        handler.open_fully()
        await shutting_down
        assert sorted(handler.handled) == [0, 1, 2, 3, 4, 5]  # nothing dropped
        assert all(worker.cancelled() for worker in pool.workers)


@pytest.mark.asyncio
async def test_a_full_queue_makes_the_producer_wait_until_a_worker_frees_a_slot() -> None:
    handler = GatedHandler()
    async with asyncio.timeout(WAIT), WorkerPool(handler, workers=1, max_pending=1) as pool:
        await pool.submit(0)
        await handler.wait_running(1)  # the worker holds job 0
        await pool.submit(1)  # the queue is now full

        producer = asyncio.create_task(pool.submit(2))
        await settle()
        assert not producer.done()  # blocked: back-pressure
        assert pool.pending == 1

        handler.gate.release()  # job 0 finishes, the worker takes job 1: a slot frees up
        await producer
        assert (handler.handled, pool.pending) == ([0], 1)  # job 1 held, job 2 queued
        handler.open_fully()

    assert handler.handled == [0, 1, 2]


@pytest.mark.asyncio
async def test_shutdown_cut_short_by_a_timeout_still_stops_the_workers() -> None:
    handler = GatedHandler()  # never opened: the job hangs
    async with WorkerPool(handler, workers=2, max_pending=10) as pool:
        await pool.submit(1)
        await handler.wait_running(1)

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):  # a deadline already due: fires at the first wait
                await pool.shutdown()

        assert all(worker.done() for worker in pool.workers)
        assert handler.running == 0  # the stuck handler was cancelled, its `finally` ran
        assert (handler.handled, pool.failures) == ([], [])  # cancellation is not a job failure
