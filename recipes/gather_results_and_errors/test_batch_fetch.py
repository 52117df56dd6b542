"""Test a gather-based batch: order, real concurrency, and both failure policies."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .batch_fetch import fetch_all, fetch_each

WAIT = 1.0  # every wait is bounded: a broken module fails fast instead of hanging


class Backend:
    """A fake store: each fetch waits for the reply the test sets; the test sees every task."""

    def __init__(self) -> None:
        self.replies: dict[str, asyncio.Future[str]] = {}
        self.tasks: dict[str, asyncio.Task[object]] = {}
        self.started = asyncio.Condition()

    async def wait_started(self, *ids: str) -> None:
        async with asyncio.timeout(WAIT), self.started:
            await self.started.wait_for(lambda: self.tasks.keys() >= set(ids))

    async def fetch(self, item_id: str) -> str:
        async with self.started:
            self.replies[item_id] = asyncio.get_running_loop().create_future()
            self.tasks[item_id] = asyncio.current_task()  # type: ignore[assignment]
            self.started.notify_all()
        return await self.replies[item_id]


@pytest_asyncio.fixture
async def backend() -> AsyncIterator[Backend]:
    fake = Backend()
    yield fake
    for task in fake.tasks.values():
        task.cancel()  # whatever a test left running is cancelled and awaited in its own loop
    await asyncio.gather(*fake.tasks.values(), return_exceptions=True)


@pytest.mark.asyncio
async def test_results_follow_the_order_of_the_ids_not_the_order_of_completion(backend: Backend) -> None:
    batch = asyncio.create_task(fetch_all(["a", "b", "c"], backend.fetch))
    await backend.wait_started("a", "b", "c")

    for item_id in ["c", "b", "a"]:  # c finishes while b and a still wait, then b, then a
        backend.replies[item_id].set_result(f"item-{item_id}")
        await backend.tasks[item_id]

    assert await batch == ["item-a", "item-b", "item-c"]


@pytest.mark.asyncio
async def test_every_fetch_is_in_flight_at_the_same_time() -> None:
    # Nobody passes the barrier until all 20 fetches wait at it: fetches run
    # one after another would never get there, and the timeout would fire.
    barrier = asyncio.Barrier(20)

    async def fetch(item_id: int) -> int:
        await barrier.wait()
        return item_id

    async with asyncio.timeout(WAIT):
        assert await fetch_all(range(20), fetch) == list(range(20))


@pytest.mark.asyncio
async def test_return_exceptions_puts_each_error_in_its_own_slot(backend: Backend) -> None:
    missing, denied = KeyError("b"), PermissionError("d is private")
    batch = asyncio.create_task(fetch_each(["a", "b", "c", "d"], backend.fetch))
    await backend.wait_started("a", "b", "c", "d")

    backend.replies["a"].set_result("item-a")
    backend.replies["b"].set_exception(missing)
    backend.replies["c"].set_result("item-c")
    backend.replies["d"].set_exception(denied)

    # Exceptions compare by identity: each slot holds the very object its fetch raised.
    assert await batch == ["item-a", missing, "item-c", denied]


@pytest.mark.asyncio
async def test_without_return_exceptions_the_first_error_propagates_and_the_others_keep_running(
    backend: Backend,
) -> None:
    batch = asyncio.create_task(fetch_all(["a", "b", "c"], backend.fetch))
    await backend.wait_started("a", "b", "c")

    backend.replies["b"].set_exception(LookupError("no item b"))
    with pytest.raises(LookupError, match=r"^no item b$"):
        await batch

    # gather has given up, but it did not cancel the other two fetches.
    others = [backend.tasks["a"], backend.tasks["c"]]
    assert not any(task.done() for task in others)
    backend.replies["a"].set_result("item-a")
    backend.replies["c"].set_result("item-c")
    assert await asyncio.gather(*others) == ["item-a", "item-c"]


@pytest.mark.asyncio
async def test_a_second_failure_is_never_reported_by_gather(backend: Backend) -> None:
    first, second = LookupError("first"), LookupError("second")
    batch = asyncio.create_task(fetch_all(["a", "b"], backend.fetch))
    await backend.wait_started("a", "b")

    backend.replies["a"].set_exception(first)
    with pytest.raises(LookupError) as excinfo:
        await batch
    assert excinfo.value is first

    # The second error happens later; only its own task knows about it.
    backend.replies["b"].set_exception(second)
    await asyncio.wait([backend.tasks["b"]])
    assert backend.tasks["b"].exception() is second


@pytest.mark.asyncio
async def test_cancelling_the_batch_cancels_every_fetch(backend: Backend) -> None:
    batch = asyncio.create_task(fetch_all(["a", "b"], backend.fetch))
    await backend.wait_started("a", "b")

    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch

    assert all(task.cancelled() for task in backend.tasks.values())


@pytest.mark.asyncio
async def test_fetch_each_raises_a_cancelled_fetch_instead_of_returning_it(backend: Backend) -> None:
    batch = asyncio.create_task(fetch_each(["a", "b"], backend.fetch))
    await backend.wait_started("a", "b")

    backend.tasks["b"].cancel()  # someone cancels one fetch, not the batch
    backend.replies["a"].set_result("item-a")
    # Plain gather(return_exceptions=True) would return ["item-a", CancelledError()].
    with pytest.raises(asyncio.CancelledError):
        await batch
