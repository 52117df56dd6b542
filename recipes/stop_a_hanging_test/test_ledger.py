"""Every async test here runs under conftest.py's deadline: a deadlock fails in time, naming where each task waits."""

import asyncio
import contextlib
import re
import time

import pytest

from .deadline import with_deadline
from .ledger import Ledger

pytestmark = pytest.mark.asyncio
TINY = 0.05  # the only real waiting in this file: deadlines that must run out


@pytest.fixture
def ledger() -> Ledger:
    return Ledger({"alice": 100, "bob": 100})


def calls_per_task(report: str) -> dict[str, list[str]]:
    """The calls each task of a deadline report was suspended in, innermost last."""
    return {name: calls.split("\n  ")[1:] for name, calls in re.findall(r"^Task '(.+)':((?:\n  .*)*)", report, re.M)}


async def opposite_transfers(ledger: Ledger) -> None:
    payments = [
        asyncio.create_task(ledger.transfer_source_first("alice", "bob", 30), name="alice pays bob"),
        asyncio.create_task(ledger.transfer_source_first("bob", "alice", 10), name="bob pays alice"),
    ]
    await asyncio.gather(*payments)


async def test_opposite_transfers_at_the_same_time_both_go_through(ledger: Ledger) -> None:
    await asyncio.gather(ledger.transfer("alice", "bob", 30), ledger.transfer("bob", "alice", 10))

    assert ledger.balances == {"alice": 80, "bob": 120}


async def test_source_first_transfers_one_after_the_other_never_show_the_deadlock(ledger: Ledger) -> None:
    await ledger.transfer_source_first("alice", "bob", 30)
    await ledger.transfer_source_first("bob", "alice", 10)  # only an opposite transfer *at the same time* hangs

    assert ledger.balances == {"alice": 80, "bob": 120}


async def test_a_deadlock_fails_at_the_deadline_naming_where_each_task_waits(ledger: Ledger) -> None:
    started = time.monotonic()

    with pytest.raises(pytest.fail.Exception) as excinfo:
        await with_deadline(opposite_transfers, TINY, "test_opposite_transfers")(ledger)

    assert TINY - 0.002 <= time.monotonic() - started < 1.0  # uvloop's timers count whole milliseconds
    report = str(excinfo.value)
    assert report.startswith("test_opposite_transfers did not finish within 0.05 s. Where each task was waiting")
    tasks = calls_per_task(report)
    assert sorted(tasks) == ["alice pays bob", "bob pays alice", "test_opposite_transfers"]
    for payment in ("alice pays bob", "bob pays alice"):  # each holds one lock and waits for the other
        assert re.fullmatch(r"ledger\.py:\d+ in \S*_move\S*: async with self\._locks\[second\]:", tasks[payment][-1])
    assert re.fullmatch(
        r"test_ledger\.py:\d+ in opposite_transfers: await asyncio\.gather\(\*payments\)",
        tasks["test_opposite_transfers"][-1],
    )
    # The cancelled transfers gave their locks back and moved nothing.
    await ledger.transfer("alice", "bob", 30)
    assert ledger.balances == {"alice": 70, "bob": 130}


@pytest.mark.deadline(TINY)
@pytest.mark.xfail(raises=pytest.fail.Exception, strict=True, reason="deadlocks on purpose: its deadline stops it")
async def test_a_marker_gives_one_test_a_deadline_of_its_own(ledger: Ledger) -> None:
    # Without conftest.py this test, and the whole run, would hang here. `pytest --runxfail` shows its failure.
    await opposite_transfers(ledger)


async def test_the_tests_own_timeout_error_is_not_blamed_on_the_deadline() -> None:
    async def upstream_gives_up() -> None:
        raise TimeoutError("upstream answered 504")

    with pytest.raises(TimeoutError, match=r"^upstream answered 504$"):
        await with_deadline(upstream_gives_up, 10.0, "test_upstream")()


async def test_a_test_that_swallows_the_cancellation_still_fails_at_its_deadline() -> None:
    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # the bug: cancellation caught and dropped
            await asyncio.Event().wait()

    with pytest.raises(pytest.fail.Exception, match=r"^test_stubborn did not finish within 0\.05 s\. Where"):
        await with_deadline(stubborn, TINY, "test_stubborn")()


async def test_a_test_that_turns_the_cancellation_into_another_error_still_gets_the_report() -> None:
    async def cleans_up_badly() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:  # the bug: a cleanup that fails while the test is cancelled
            raise RuntimeError("cleanup failed") from None

    with pytest.raises(pytest.fail.Exception, match=r"^test_cleanup did not finish within 0\.05 s\. Where") as excinfo:
        await with_deadline(cleans_up_badly, TINY, "test_cleanup")()

    innermost = calls_per_task(str(excinfo.value))["test_cleanup"][-1]
    assert re.fullmatch(r"test_ledger\.py:\d+ in cleans_up_badly: await asyncio\.Event\(\)\.wait\(\)", innermost)
    assert pytest.RaisesExc(RuntimeError, match=r"^cleanup failed$").matches(excinfo.value.__cause__)


async def test_a_transfer_to_the_same_account_is_refused_instead_of_waiting_on_its_own_lock(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match=r"^cannot transfer from 'alice' to itself$"):
        await ledger.transfer("alice", "alice", 5)

    assert ledger.balances == {"alice": 100, "bob": 100}
