"""Ways a cancellation test or a cancellable task goes wrong, each shown failing or misleading."""

import asyncio

import pytest

from .worker import Pool, Worker


async def no_commit(job: str) -> None:
    raise AssertionError(f"no job should reach a commit here, got {job!r}")


@pytest.mark.asyncio
async def test_a_cancel_before_the_first_step_means_the_body_never_ran() -> None:
    pool = Pool("db-1")
    worker = Worker(pool, asyncio.Queue[str](), no_commit)
    task = asyncio.create_task(worker.run())
    task.cancel()  # before the task's first step: no await between create_task and cancel

    with pytest.raises(asyncio.CancelledError):
        await task

    # No connection taken, no `finally` run: a test that cancels this early checks no cleanup at all.
    assert not worker.started.is_set()
    assert pool.idle == ["db-1"]


async def swallowing_worker(pool: Pool, started: asyncio.Event) -> str:
    """The bug to catch: it cleans up, but then returns instead of re-raising."""
    connection = pool.acquire()
    try:
        started.set()
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        return "stopped"  # swallowed: whoever cancelled it cannot tell that it stopped
    finally:
        pool.release(connection)
    return "finished"


@pytest.mark.asyncio
async def test_a_worker_that_swallows_cancellation_is_caught() -> None:
    pool, started = Pool("db-1"), asyncio.Event()
    task = asyncio.create_task(swallowing_worker(pool, started))
    await asyncio.wait_for(started.wait(), timeout=1)

    task.cancel()
    # The pattern's check (the inner `pytest.raises`) fails as it should; the outer one catches that failure.
    failed = pytest.raises(pytest.fail.Exception, match=r"^DID NOT RAISE CancelledError$")
    with failed, pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=1)

    assert task.result() == "stopped"
    assert pool.idle == ["db-1"]  # its cleanup ran: a test that checks only cleanup would pass


@pytest.mark.asyncio
async def test_shield_alone_lets_the_caller_leave_while_the_commit_still_runs() -> None:
    pool, writing, gate = Pool("db-1"), asyncio.Event(), asyncio.Event()
    entries: list[str] = []

    async def commit() -> None:
        entries.append("begin")
        writing.set()
        await gate.wait()
        entries.append("end")

    async def naive_run(committing: asyncio.Future[None]) -> None:
        connection = pool.acquire()
        try:
            await asyncio.shield(committing)  # shielded, but nobody waits for it on cancel
        finally:
            pool.release(connection)

    committing = asyncio.ensure_future(commit())
    task = asyncio.create_task(naive_run(committing))
    await asyncio.wait_for(writing.wait(), timeout=1)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=1)

    # The caller is gone and its connection is back in the pool, but the commit is half done.
    assert entries == ["begin"]
    assert pool.idle == ["db-1"]
    gate.set()
    await asyncio.wait_for(committing, timeout=1)  # the orphaned commit finishes on its own, later
    assert entries == ["begin", "end"]
