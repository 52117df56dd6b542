"""A queue worker pool: every job handled, poison jobs survived, shutdown drains, producers feel back-pressure.

Nothing here sleeps to "let the workers run": tests wait for events the handler
sets, and every wait is bounded by ``asyncio.timeout`` so a bug fails fast
instead of hanging the run.
"""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from .worker_pool import WorkerPool

WAIT = 2  # seconds; only reached when something is broken
ONLY_ONCE = r"^a pool can be started only once$"


async def settle() -> None:
    """Give every ready task a few turns of the loop (no wall-clock waiting)."""
    for _ in range(5):
        await asyncio.sleep(0)


class GatedHandler:
    """A job handler that records jobs and holds each one until the test lets it go."""

    def __init__(self, running_target: int = 1) -> None:
        self.handled: list[int] = []
        self.running = 0
        self.most_running = 0
        self.gate = asyncio.Semaphore(0)  # one release() lets one job finish
        self.opened = False
        self.enough_running = asyncio.Event()
        self._running_target = running_target

    async def __call__(self, job: int) -> None:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        if self.running >= self._running_target:
            self.enough_running.set()
        try:
            if not self.opened:
                await self.gate.acquire()
            self.handled.append(job)
        finally:
            self.running -= 1

    def open_fully(self) -> None:
        """Let the jobs in progress finish, and every later job run straight through."""
        self.opened = True
        for _ in range(self.running):
            self.gate.release()


def recording_handler(handled: list[int]) -> Callable[[int], Awaitable[None]]:
    async def handle(job: int) -> None:
        await asyncio.sleep(0)  # a real handler awaits something
        if job < 0:
            raise ValueError(f"cannot handle negative job {job}")
        handled.append(job)

    return handle


@pytest.mark.asyncio
async def test_every_submitted_job_is_handled_exactly_once() -> None:
    handled: list[int] = []
    pool = WorkerPool(recording_handler(handled), workers=3, max_pending=4)
    pool.start()

    async with asyncio.timeout(WAIT):
        for job in range(20):
            await pool.submit(job)
        await pool.shutdown()

    assert sorted(handled) == list(range(20))
    assert (pool.completed, pool.failures) == (20, [])


@pytest.mark.asyncio
async def test_jobs_run_concurrently_up_to_the_pool_size() -> None:
    handler = GatedHandler(running_target=3)
    pool = WorkerPool(handler, workers=3)
    pool.start()
    for job in range(5):
        await pool.submit(job)

    async with asyncio.timeout(WAIT):
        await handler.enough_running.wait()
    await settle()
    assert (handler.running, pool.pending) == (3, 2)  # three busy workers, two jobs waiting

    handler.open_fully()
    async with asyncio.timeout(WAIT):
        await pool.shutdown()
    assert handler.most_running == 3
    assert sorted(handler.handled) == [0, 1, 2, 3, 4]


@pytest.mark.asyncio
async def test_a_poison_job_is_recorded_and_its_worker_keeps_going() -> None:
    handled: list[int] = []
    pool = WorkerPool(recording_handler(handled), workers=1)  # one worker: it must survive the poison
    pool.start()

    async with asyncio.timeout(WAIT):
        for job in (1, -1, 2, -2, 3):
            await pool.submit(job)
        await pool.join()

    assert handled == [1, 2, 3]
    assert [failure.job for failure in pool.failures] == [-1, -2]
    assert isinstance(pool.failures[0].error, ValueError)
    assert str(pool.failures[0].error) == "cannot handle negative job -1"
    assert not pool.workers[0].done()  # still alive and waiting for work
    assert pool.completed == 3

    async with asyncio.timeout(WAIT):
        await pool.shutdown()


@pytest.mark.asyncio
async def test_shutdown_drains_the_queue_then_stops_every_worker() -> None:
    handler = GatedHandler(running_target=2)
    pool = WorkerPool(handler, workers=2)
    pool.start()
    for job in range(6):
        await pool.submit(job)
    async with asyncio.timeout(WAIT):
        await handler.enough_running.wait()

    shutting_down = asyncio.create_task(pool.shutdown())
    await settle()
    assert not shutting_down.done()  # still draining: four jobs queued, two in progress
    assert not any(worker.done() for worker in pool.workers)
    with pytest.raises(RuntimeError, match=r"^the pool is shutting down and takes no new jobs$"):
        await pool.submit(99)

    handler.open_fully()
    async with asyncio.timeout(WAIT):
        await shutting_down

    assert sorted(handler.handled) == [0, 1, 2, 3, 4, 5]  # nothing dropped
    assert pool.pending == 0
    assert all(worker.cancelled() for worker in pool.workers)


@pytest.mark.asyncio
async def test_shutdown_cut_short_by_a_timeout_still_stops_the_workers() -> None:
    handler = GatedHandler()  # never opened: the job hangs
    pool = WorkerPool(handler, workers=2)
    pool.start()
    await pool.submit(1)
    async with asyncio.timeout(WAIT):
        await handler.enough_running.wait()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await pool.shutdown()

    assert all(worker.done() for worker in pool.workers)
    assert handler.running == 0  # the stuck handler was cancelled, its `finally` ran
    assert (pool.completed, pool.failures) == (0, [])  # cancellation is not a job failure


@pytest.mark.asyncio
async def test_a_full_queue_makes_the_producer_wait_until_a_worker_frees_a_slot() -> None:
    handler = GatedHandler()
    pool = WorkerPool(handler, workers=1, max_pending=1)  # the smallest queue there is
    pool.start()
    await pool.submit(0)
    async with asyncio.timeout(WAIT):
        await handler.enough_running.wait()  # the worker holds job 0
    await pool.submit(1)  # the queue is now full

    producer = asyncio.create_task(pool.submit(2))
    await settle()
    assert not producer.done()  # blocked: back-pressure
    assert pool.pending == 1

    handler.gate.release()  # job 0 finishes; the worker takes job 1; a slot frees up
    async with asyncio.timeout(WAIT):
        await producer
    assert handler.handled == [0]
    assert pool.pending == 1  # job 2

    handler.open_fully()
    async with asyncio.timeout(WAIT):
        await pool.shutdown()
    assert handler.handled == [0, 1, 2]


@pytest.mark.asyncio
async def test_by_default_four_workers_share_a_queue_of_a_hundred_jobs() -> None:
    handler = GatedHandler(running_target=4)
    pool = WorkerPool(handler)
    pool.start()
    async with asyncio.timeout(WAIT):
        for job in range(4 + 100):
            await pool.submit(job)
        await handler.enough_running.wait()
    await settle()
    assert (handler.running, pool.pending) == (4, 100)

    producer = asyncio.create_task(pool.submit(104))
    await settle()
    assert not producer.done()  # the 101st waiting job is one too many

    handler.open_fully()
    async with asyncio.timeout(WAIT):
        await producer
        await pool.shutdown()
    assert sorted(handler.handled) == list(range(105))


@pytest.mark.asyncio
async def test_async_with_starts_the_workers_and_drains_on_exit() -> None:
    handled: list[int] = []
    async with asyncio.timeout(WAIT), WorkerPool(recording_handler(handled), workers=2) as pool:
        assert [worker.get_name() for worker in pool.workers] == ["worker-0", "worker-1"]
        for job in range(5):
            await pool.submit(job)

    assert sorted(handled) == [0, 1, 2, 3, 4]
    assert all(worker.done() for worker in pool.workers)


@pytest.mark.asyncio
async def test_submitting_before_start_is_refused() -> None:
    pool = WorkerPool(recording_handler([]))

    with pytest.raises(RuntimeError, match=r"^start the pool before submitting jobs: nobody would handle them$"):
        await pool.submit(1)
    assert pool.pending == 0


@pytest.mark.asyncio
async def test_a_pool_cannot_be_started_twice_or_after_shutdown() -> None:
    pool = WorkerPool(recording_handler([]), workers=1)
    pool.start()
    with pytest.raises(RuntimeError, match=ONLY_ONCE):
        pool.start()
    async with asyncio.timeout(WAIT):
        await pool.shutdown()
    with pytest.raises(RuntimeError, match=ONLY_ONCE):
        pool.start()

    never_started = WorkerPool(recording_handler([]))
    async with asyncio.timeout(WAIT):
        await never_started.shutdown()  # nothing to stop: returns at once
    with pytest.raises(RuntimeError, match=ONLY_ONCE):
        never_started.start()


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"workers": 0}, "workers must be at least 1"), ({"max_pending": 0}, "unbounded queue has no back-pressure")],
)
def test_bad_pool_settings_are_refused(settings: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkerPool(recording_handler([]), **settings)


@pytest.mark.asyncio
async def test_one_none_sentinel_stops_only_one_of_many_consumers() -> None:
    # The doc's pattern (a consumer that stops on None) scaled to three consumers.
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    results: list[int] = []

    async def consumer() -> None:
        while (item := await queue.get()) is not None:
            results.append(item)

    consumers = [asyncio.create_task(consumer()) for _ in range(3)]
    for item in (0, 1, 2, None):
        queue.put_nowait(item)
    await settle()

    assert sorted(results) == [0, 1, 2]
    assert sum(task.done() for task in consumers) == 1  # the other two wait forever for more work
    # gather(*consumers) would hang here. Clean up by hand:
    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)


@pytest.mark.asyncio
async def test_join_never_returns_if_a_consumer_forgets_task_done() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for item in range(3):
        queue.put_nowait(item)
    while not queue.empty():
        queue.get_nowait()  # consumed, but task_done() never called

    joining = asyncio.create_task(queue.join())
    await settle()
    assert not joining.done()  # and it never will be

    for _ in range(3):
        queue.task_done()
    async with asyncio.timeout(WAIT):
        await joining


@pytest.mark.asyncio
async def test_calling_task_done_twice_for_one_job_is_an_error() -> None:
    # e.g. task_done() both in an `except` branch and in a `finally`.
    queue: asyncio.Queue[int] = asyncio.Queue()
    queue.put_nowait(1)
    queue.get_nowait()
    queue.task_done()

    with pytest.raises(ValueError, match=r"task_done\(\) called too many times"):
        queue.task_done()


def test_sentinel_consumers_hang_where_join_finishes(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def produce(queue):
            for item in range(6):
                await queue.put(item)

        @pytest.mark.asyncio
        async def test_none_sentinel_with_three_consumers():
            queue = asyncio.Queue()
            results = []

            async def consumer():
                while (item := await queue.get()) is not None:
                    results.append(item)

            async def producer():
                await produce(queue)
                await queue.put(None)  # one sentinel, three consumers

            async with asyncio.timeout(0.02):  # without this bound the test hangs
                await asyncio.gather(producer(), *(consumer() for _ in range(3)))

        @pytest.mark.asyncio
        async def test_join_with_three_consumers():
            queue = asyncio.Queue()
            results = []

            async def consumer():
                while True:
                    item = await queue.get()
                    try:
                        results.append(item)
                    finally:
                        queue.task_done()

            consumers = [asyncio.create_task(consumer()) for _ in range(3)]
            async with asyncio.timeout(2):
                await produce(queue)
                await queue.join()
            for task in consumers:
                task.cancel()
            await asyncio.gather(*consumers, return_exceptions=True)
            assert sorted(results) == list(range(6))
        """
    )
    # -rf lists failures at the end; hypothesis is not needed here and costs ~0.1 s per run.
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:hypothesispytest", "-rf")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_none_sentinel_with_three_consumers _*",
            "E   *TimeoutError",
            "FAILED *::test_none_sentinel_with_three_consumers*",
        ]
    )
