"""Queue mistakes: one sentinel for many consumers, task_done() forgotten or doubled, and maxsize=0."""

import asyncio

import pytest

from .test_worker_pool import settle
from .worker_pool import WorkerPool

WAIT = 2  # seconds; only a bug ever reaches this bound


@pytest.mark.asyncio
async def test_one_none_sentinel_stops_only_one_of_many_consumers() -> None:
    # The doc's pattern (a consumer that stops on None) with three consumers.
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
    assert sum(task.done() for task in consumers) == 1  # the other two wait for more work forever
    for task in consumers:  # gather(*consumers) would hang here: clean up by hand
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)


@pytest.mark.asyncio
async def test_sentinel_consumers_hang_where_join_finishes() -> None:
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    results: list[int] = []

    async def produce_then_one_sentinel() -> None:
        for item in range(6):
            await queue.put(item)
        await queue.put(None)

    async def sentinel_consumer() -> None:
        while (item := await queue.get()) is not None:
            results.append(item)

    # Only a bound ends this gather; without one the test run hangs.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await asyncio.gather(produce_then_one_sentinel(), *(sentinel_consumer() for _ in range(3)))
    assert sorted(results) == list(range(6))  # all the work was done: only the stop was missing

    # task_done() and join() say "all handled" whatever the number of consumers.
    jobs: asyncio.Queue[int] = asyncio.Queue()
    results.clear()

    async def joining_consumer() -> None:
        while True:
            results.append(await jobs.get())
            jobs.task_done()

    consumers = [asyncio.create_task(joining_consumer()) for _ in range(3)]
    async with asyncio.timeout(WAIT):
        for item in range(6):
            await jobs.put(item)
        await jobs.join()
    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    assert sorted(results) == list(range(6))


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

    with pytest.raises(ValueError, match=r"^task_done\(\) called too many times$"):
        queue.task_done()


@pytest.mark.asyncio
async def test_a_queue_of_max_pending_zero_is_unbounded() -> None:
    # asyncio.Queue(maxsize=0), the doc's default, never pushes back on a producer.
    handled: list[int] = []

    async def handle(job: int) -> None:
        handled.append(job)

    async with asyncio.timeout(WAIT), WorkerPool(handle, workers=1, max_pending=0) as pool:
        for job in range(1000):
            await pool.submit(job)  # never waits: the worker has not even started yet
        assert (pool.pending, handled) == (1000, [])

    assert len(handled) == 1000
