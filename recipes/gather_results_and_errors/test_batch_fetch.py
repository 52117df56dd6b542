"""Test a gather-based batch: order, real concurrency, and both failure policies."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from .batch_fetch import MAX_BATCH_SIZE, fetch_all, fetch_each

# Every wait in this file is bounded: a broken module fails fast instead of hanging.
WAIT = 1.0

# fetch_all or fetch_each, for the tests that hold for both.
Batch = Callable[..., Awaitable[list[object]]]


class Backend:
    """A fake item store whose fetches block until the test lets them finish.

    Each fetch records its task, so the test can see what is still running and
    clean it up.
    """

    def __init__(self, failures: dict[str, Exception] | None = None) -> None:
        self.failures = failures or {}
        self.gates: dict[str, asyncio.Event] = {}
        self.started: dict[str, asyncio.Event] = {}
        self.finished: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[object]] = {}
        self.completion_order: list[str] = []
        self.cancelled: list[str] = []

    def _event(self, table: dict[str, asyncio.Event], item_id: str) -> asyncio.Event:
        return table.setdefault(item_id, asyncio.Event())

    def release(self, *item_ids: str) -> None:
        for item_id in item_ids:
            self._event(self.gates, item_id).set()

    async def wait_started(self, *item_ids: str) -> None:
        async with asyncio.timeout(WAIT):
            for item_id in item_ids:
                await self._event(self.started, item_id).wait()

    async def wait_finished(self, item_id: str) -> None:
        async with asyncio.timeout(WAIT):
            await self._event(self.finished, item_id).wait()

    async def fetch(self, item_id: str) -> str:
        task = asyncio.current_task()
        assert task is not None
        self.tasks[item_id] = task
        self._event(self.started, item_id).set()
        try:
            await self._event(self.gates, item_id).wait()
        except asyncio.CancelledError:
            self.cancelled.append(item_id)
            raise
        self.completion_order.append(item_id)
        self._event(self.finished, item_id).set()
        if item_id in self.failures:
            raise self.failures[item_id]
        return f"item-{item_id}"


@pytest_asyncio.fixture
async def backend() -> AsyncIterator[Backend]:
    fake = Backend()
    yield fake
    # Whatever a test left running is cancelled and awaited here, inside the
    # test's own loop, so no task outlives the test that started it.
    leftovers = [task for task in fake.tasks.values() if not task.done()]
    for task in leftovers:
        task.cancel()
    async with asyncio.timeout(WAIT):
        await asyncio.gather(*leftovers, return_exceptions=True)


@pytest.mark.asyncio
async def test_results_follow_the_order_of_the_ids_not_the_order_of_completion(backend: Backend) -> None:
    ids = ["a", "b", "c"]
    batch = asyncio.create_task(fetch_all(ids, backend.fetch))
    await backend.wait_started(*ids)

    for item_id in reversed(ids):  # finish c, then b, then a
        backend.release(item_id)
        await backend.wait_finished(item_id)

    async with asyncio.timeout(WAIT):
        results = await batch
    assert backend.completion_order == ["c", "b", "a"]
    assert results == ["item-a", "item-b", "item-c"]


@pytest.mark.asyncio
async def test_every_fetch_is_in_flight_at_the_same_time() -> None:
    ids = [str(n) for n in range(20)]
    # Nobody passes the barrier until all 20 fetches are waiting at it. Fetches
    # run one after another would never get there, and the timeout would fire.
    barrier = asyncio.Barrier(len(ids))

    async def fetch(item_id: str) -> int:
        await barrier.wait()
        return int(item_id)

    async with asyncio.timeout(WAIT):
        results = await fetch_all(ids, fetch)

    assert results == list(range(20))


@pytest.mark.asyncio
async def test_in_flight_count_reaches_the_batch_size() -> None:
    in_flight = 0
    peak = 0

    async def fetch(item_id: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)  # a checkpoint: let the other fetches start
        in_flight -= 1
        return item_id * 10

    assert await fetch_each([1, 2, 3, 4], fetch) == [10, 20, 30, 40]
    assert peak == 4
    assert in_flight == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("batch", [fetch_all, fetch_each])
async def test_an_empty_batch_fetches_nothing(batch: Batch, backend: Backend) -> None:
    assert await batch([], backend.fetch) == []
    assert backend.tasks == {}


@pytest.mark.asyncio
async def test_return_exceptions_puts_each_error_in_its_own_slot() -> None:
    missing = KeyError("b")
    denied = PermissionError("d is private")
    backend = Backend(failures={"b": missing, "d": denied})
    backend.release("a", "b", "c", "d")

    async with asyncio.timeout(WAIT):
        results = await fetch_each(["a", "b", "c", "d"], backend.fetch)

    # Exceptions compare by identity: these are the very objects that were raised,
    # in their own slots, and every other slot holds its real result.
    assert results == ["item-a", missing, "item-c", denied]


@pytest.mark.asyncio
async def test_without_return_exceptions_the_first_error_propagates_and_the_others_keep_running(
    backend: Backend,
) -> None:
    backend.failures["b"] = LookupError("no item b")
    batch = asyncio.create_task(fetch_all(["a", "b", "c"], backend.fetch))
    await backend.wait_started("a", "b", "c")

    backend.release("b")
    with pytest.raises(LookupError, match="no item b"):
        async with asyncio.timeout(WAIT):
            await batch

    # gather has given up, but it did not cancel the other two fetches.
    others = [backend.tasks["a"], backend.tasks["c"]]
    assert not any(task.done() for task in others)
    assert backend.cancelled == []

    # Let them finish, and collect them, so nothing outlives the test.
    backend.release("a", "c")
    async with asyncio.timeout(WAIT):
        assert await asyncio.gather(*others) == ["item-a", "item-c"]


@pytest.mark.asyncio
async def test_a_second_failure_is_never_reported_by_gather(backend: Backend) -> None:
    backend.failures.update(a=LookupError("first"), c=LookupError("second"))
    batch = asyncio.create_task(fetch_all(["a", "b", "c"], backend.fetch))
    await backend.wait_started("a", "b", "c")

    backend.release("a")
    with pytest.raises(LookupError, match="first"):
        async with asyncio.timeout(WAIT):
            await batch

    backend.release("b", "c")
    async with asyncio.timeout(WAIT):
        outcomes = await asyncio.gather(backend.tasks["b"], backend.tasks["c"], return_exceptions=True)
    # The second error happened, but only its own task knows about it.
    assert list(outcomes) == ["item-b", backend.failures["c"]]


@pytest.mark.asyncio
async def test_cancelling_the_batch_cancels_every_fetch(backend: Backend) -> None:
    batch = asyncio.create_task(fetch_all(["a", "b", "c"], backend.fetch))
    await backend.wait_started("a", "b", "c")

    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(WAIT):
            await batch

    assert sorted(backend.cancelled) == ["a", "b", "c"]
    assert all(task.cancelled() for task in backend.tasks.values())


@pytest.mark.asyncio
async def test_a_cancelled_fetch_is_raised_where_plain_gather_would_return_it(backend: Backend) -> None:
    # Plain gather with return_exceptions=True hands a cancellation back as a list item...
    plain = asyncio.gather(backend.fetch("a"), backend.fetch("b"), return_exceptions=True)
    await backend.wait_started("a", "b")
    backend.tasks["b"].cancel()  # someone cancels one fetch, not the batch
    backend.release("a")
    async with asyncio.timeout(WAIT):
        outcomes = await plain
    assert outcomes[0] == "item-a"
    assert type(outcomes[1]) is asyncio.CancelledError

    # ...fetch_each raises it instead, so the cancellation is not lost in the results.
    guarded = Backend()
    batch = asyncio.create_task(fetch_each(["a", "b"], guarded.fetch))
    await guarded.wait_started("a", "b")
    guarded.tasks["b"].cancel()
    guarded.release("a")
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(WAIT):
            await batch
    assert guarded.cancelled == ["b"]


@pytest.mark.asyncio
@pytest.mark.parametrize("batch", [fetch_all, fetch_each])
async def test_a_string_is_refused_instead_of_fetched_letter_by_letter(batch: Batch, backend: Backend) -> None:
    with pytest.raises(TypeError, match="not one str"):
        await batch("abc", backend.fetch)
    assert backend.tasks == {}


@pytest.mark.asyncio
@pytest.mark.parametrize("batch", [fetch_all, fetch_each])
async def test_duplicate_ids_are_refused(batch: Batch, backend: Backend) -> None:
    with pytest.raises(ValueError, match=r"duplicate ids in batch: \['a', 'c'\]"):
        await batch(["a", "b", "a", "c", "c"], backend.fetch)
    assert backend.tasks == {}


@pytest.mark.asyncio
async def test_a_batch_over_the_limit_is_refused_and_the_limit_itself_is_accepted() -> None:
    async def fetch(item_id: int) -> int:
        return item_id

    with pytest.raises(ValueError, match=f"batch of {MAX_BATCH_SIZE + 1} ids is too large"):
        await fetch_all(range(MAX_BATCH_SIZE + 1), fetch)
    assert await fetch_all(range(MAX_BATCH_SIZE), fetch) == list(range(MAX_BATCH_SIZE))


SANDBOX_CONFIG = "[pytest]\nasyncio_default_fixture_loop_scope = function\nasyncio_default_test_loop_scope = function\n"
# A fixed order inside the sandbox, and no hypothesis plugin: pytester restores
# sys.modules after each in-process run, so that plugin would be re-imported every time.
SANDBOX_ARGS = ("-p", "no:randomly", "-p", "no:hypothesispytest")


def test_a_length_check_passes_for_results_in_the_wrong_order(pytester: pytest.Pytester) -> None:
    # The pitfall: `assert len(results) == 3` cannot tell a batch that lost the
    # order of its ids from a correct one. Compare the whole list.
    pytester.makeini(SANDBOX_CONFIG)
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def fetch_all_in_completion_order(ids, fetch_one):
            return [await done for done in asyncio.as_completed([fetch_one(i) for i in ids])]

        async def fetch(item_id):
            for _ in range({"a": 3, "b": 2, "c": 1}[item_id]):
                await asyncio.sleep(0)
            return item_id

        @pytest.mark.asyncio
        async def test_weak():
            results = await fetch_all_in_completion_order(["a", "b", "c"], fetch)
            assert len(results) == 3

        @pytest.mark.asyncio
        async def test_strong():
            results = await fetch_all_in_completion_order(["a", "b", "c"], fetch)
            assert results == ["a", "b", "c"]
        """
    )
    result = pytester.runpytest(*SANDBOX_ARGS)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["E       AssertionError: assert ['c', 'b', 'a'] == ['a', 'b', 'c']"])


def test_an_isinstance_exception_check_passes_for_a_bug(pytester: pytest.Pytester) -> None:
    # The pitfall: with return_exceptions=True a typo in the code becomes a
    # value in the list, and `isinstance(results[1], Exception)` accepts it.
    pytester.makeini(SANDBOX_CONFIG)
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        class NotFound(Exception):
            pass

        async def fetch(item_id):
            if item_id == "b":
                return item_id.uper()  # a typo, not the NotFound the test meant
            return item_id

        @pytest.mark.asyncio
        async def test_weak():
            results = await asyncio.gather(fetch("a"), fetch("b"), return_exceptions=True)
            assert isinstance(results[1], Exception)

        @pytest.mark.asyncio
        async def test_strong():
            results = await asyncio.gather(fetch("a"), fetch("b"), return_exceptions=True)
            assert results[0] == "a"
            assert type(results[1]) is NotFound
        """
    )
    result = pytester.runpytest(*SANDBOX_ARGS)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       assert <class 'AttributeError'> is NotFound",
            "E        +  where <class 'AttributeError'> = type(AttributeError(*'str' object has no attribute 'uper'*))",
        ]
    )
