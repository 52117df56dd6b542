"""AnyIO's pytest plugin runs every test here on asyncio, on uvloop and on trio."""

import asyncio
import gc
import warnings

import anyio
import pytest
import trio.testing
import uvloop

from .worker_pool import worker_pool

pytestmark = pytest.mark.anyio  # the anyio plugin runs these tests; pytest-asyncio's strict mode leaves them alone

GENEROUS = 10.0  # for jobs that must finish in time, so a busy machine cannot fail them
BACKENDS = ["asyncio", pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"), "trio"]


# Module scope, like the plugin's own anyio_backend: module-scoped async fixtures may then use it.
@pytest.fixture(scope="module", params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


def running_loop() -> str:  # asks asyncio and trio themselves what runs the caller
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        trio.lowlevel.current_task()  # raises RuntimeError outside trio as well
        return "trio"
    return "uvloop" if isinstance(loop, uvloop.Loop) else "asyncio"


async def double(n: int) -> tuple[int, str]:
    await anyio.lowlevel.checkpoint()  # suspends once, like real I/O
    return 2 * n, running_loop()


@pytest.fixture
def expected_loop(anyio_backend_name: str, anyio_backend_options: dict[str, object]) -> str:
    return "uvloop" if anyio_backend_options.get("use_uvloop") else anyio_backend_name


async def test_a_job_runs_on_the_backend_the_test_asked_for(expected_loop: str) -> None:
    async with worker_pool(double, workers=2, job_timeout=GENEROUS) as pool:
        assert await pool.submit(21) == (42, expected_loop)  # the worker ran on the loop asked for
    assert running_loop() == expected_loop  # and so did the test


async def let_ready_tasks_run() -> None:
    # Scheduler rounds for every ready task to reach its next wait (anyio.wait_all_tasks_blocked sleeps 0.1 s).
    for _ in range(3):
        await anyio.lowlevel.checkpoint()


async def test_no_more_jobs_run_at_once_than_there_are_workers() -> None:
    running: set[int] = set()
    finished: list[int] = []
    two_running, release = anyio.Event(), anyio.Event()

    async def hold(n: int) -> int:
        running.add(n)
        if len(running) == 2:
            two_running.set()
        await release.wait()
        running.remove(n)
        finished.append(n)
        return n

    async with worker_pool(hold, workers=2, job_timeout=GENEROUS) as pool, anyio.create_task_group() as group:
        for n in range(5):
            group.start_soon(pool.submit, n)
        await two_running.wait()
        await let_ready_tasks_run()  # a third worker, were there one, would start a job now
        assert len(running) == 2  # three callers wait in submit() for a free worker
        release.set()

    assert sorted(finished) == [0, 1, 2, 3, 4]


async def test_a_job_past_its_deadline_is_cancelled_and_the_pool_carries_on(expected_loop: str) -> None:
    cancelled_with: list[type[BaseException]] = []

    async def stuck_on_zero(n: int) -> int:
        if n == 0:
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class() as exc:
                cancelled_with.append(type(exc))
                raise
        return n

    async with worker_pool(stuck_on_zero, workers=1, job_timeout=0.005) as pool:  # the only real wait here
        with pytest.raises(TimeoutError):
            await pool.submit(0)
        assert await pool.submit(1) == 1

    # The same anyio code, the backend's own cancellation: trio.Cancelled is no CancelledError.
    assert cancelled_with == [trio.Cancelled if expected_loop == "trio" else asyncio.CancelledError]


async def test_a_handler_error_reaches_its_caller_only() -> None:
    async def reject_odd(n: int) -> int:
        await anyio.lowlevel.checkpoint()
        if n % 2:
            raise ValueError(f"odd job {n}")
        return n

    async with worker_pool(reject_odd, workers=2, job_timeout=GENEROUS) as pool:
        with pytest.raises(ValueError, match=r"^odd job 3$"):
            await pool.submit(3)
        assert await pool.submit(4) == 4


async def test_callers_that_give_up_leave_the_pool_working_and_nothing_open() -> None:
    started, release = anyio.Event(), anyio.Event()

    async def slow(n: int) -> int:
        started.set()
        await release.wait()
        return n

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with worker_pool(slow, workers=1, job_timeout=GENEROUS) as pool:
            async with anyio.create_task_group() as group:
                group.start_soon(pool.submit, 1)  # takes the only worker...
                await started.wait()
                group.start_soon(pool.submit, 2)  # ...so this one waits for a free worker
                await let_ready_tasks_run()
                group.cancel_scope.cancel()  # both callers give up
            release.set()
            assert await pool.submit(3) == 3  # the reply nobody reads was dropped; the worker lives on
        gc.collect()  # a stream left open warns when collected: here, not in some later test
    assert [str(warning.message) for warning in caught] == []  # no "Unclosed <MemoryObjectSendStream ...>"


# One test, one backend: trio with a virtual clock, so an hour-long deadline passes at once.
VIRTUAL_CLOCK = ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})


@pytest.mark.parametrize("anyio_backend", [pytest.param(VIRTUAL_CLOCK, id="trio-virtual-clock")])
async def test_an_hour_long_deadline_in_virtual_time_on_trio_only() -> None:
    started = trio.current_time()
    async with worker_pool(anyio.sleep, workers=1, job_timeout=3600) as pool:
        await pool.submit(3599)  # an hour of virtual time, none of it real
        with pytest.raises(TimeoutError):
            await pool.submit(3601)
    assert trio.current_time() - started == pytest.approx(3599 + 3600)
