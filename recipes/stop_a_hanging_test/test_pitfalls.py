"""What pytest-timeout, faulthandler and Task.get_stack() show of a hang, each on a real deadlock."""

import asyncio
import io
import re
import threading

import pytest
import pytest_timeout  # type: ignore[import-untyped]  # the package ships no type hints

from .deadline import suspended_calls
from .ledger import Ledger

pytest_plugins = ["pytester"]

SANDBOX_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
# The sandboxes load only pytest-asyncio and pytest-timeout (imported above, so a copy of this folder lists it).
PLUGINS = ["pytest_asyncio.plugin", pytest_timeout.__name__, "no:cacheprovider"]
LEAN = ["--disable-plugin-autoload", *(arg for plugin in PLUGINS for arg in ("-p", plugin))]
DEADLOCK = """
import asyncio

async def transfer(first, second, name):
    async with first:
        await asyncio.sleep(0)
        try:
            async with second:
                pass
        finally:
            print(f"{name} let go of its lock")

async def opposite_transfers(safety_net=None):
    a, b = asyncio.Lock(), asyncio.Lock()
    async with asyncio.timeout(safety_net):
        await asyncio.gather(transfer(a, b, "alice pays bob"), transfer(b, a, "bob pays alice"))
"""
SIGNAL_METHOD = """
import asyncio

import pytest
import pytest_asyncio
import uvloop

from deadlock import opposite_transfers

SAFETY_NET = 0.1  # this sandbox's own limit on what would hang forever, so the suite cannot hang

@pytest.mark.timeout(0.05)
@pytest.mark.asyncio
async def test_deadlock():
    await opposite_transfers()

@pytest.mark.asyncio
async def test_the_next_test_still_runs():
    await asyncio.sleep(0)

@pytest_asyncio.fixture
async def worker():
    yield
    await asyncio.Event().wait()  # teardown waits for a worker that never stops

@pytest.mark.timeout(0.05)
@pytest.mark.asyncio
async def test_teardown_never_returns(worker):
    pass

@pytest_asyncio.fixture
async def worker_with_safety_net():
    yield
    async with asyncio.timeout(SAFETY_NET):
        await asyncio.Event().wait()

@pytest.mark.timeout(0.05, func_only=True)
@pytest.mark.asyncio
async def test_teardown_never_returns_func_only(worker_with_safety_net):
    pass

@pytest.mark.timeout(0.05)
def test_deadlock_on_uvloop():
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(opposite_transfers(safety_net=SAFETY_NET))
"""


def test_the_signal_method_stops_a_deadlock_on_asyncio_but_not_on_uvloop(pytester: pytest.Pytester) -> None:
    # Off the main thread pytest-timeout quietly uses the thread method, which would end this whole run.
    assert threading.current_thread() is threading.main_thread()
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(deadlock=DEADLOCK, test_signal=SIGNAL_METHOD)

    result = pytester.runpytest(*LEAN, "--tb=short")

    result.assert_outcomes(passed=3, failed=2, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_teardown_never_returns _*",
            "E   Failed: Timeout (>0.05s) from pytest-timeout.",
            # func_only=True: the timer stops with the test body, so only the safety net ends the teardown.
            "*_ ERROR at teardown of test_teardown_never_returns_func_only _*",
            "E   TimeoutError",
            "*_ test_deadlock _*",
            # SIGALRM interrupts the loop in select(): the traceback ends there, not in a coroutine.
            "*selectors.py:*: in select",
            "E   Failed: Timeout (>0.05s) from pytest-timeout.",
            # The stuck tasks are cancelled only when pytest-asyncio closes the loop.
            "*- Captured stdout teardown -*",
            "* pays * let go of its lock",  # both, in either order
            "* pays * let go of its lock",
            "*_ test_deadlock_on_uvloop _*",
            # uvloop runs pytest-timeout's handler only when something else wakes the loop, in a callback
            # whose error it logs: the test ends by the safety net, as if pytest-timeout were not there.
            "E   TimeoutError",
            "*- Captured log call -*",
            "ERROR    asyncio:*Exception in callback Loop._read_from_self",
            "Failed: Timeout (>0.05s) from pytest-timeout.",
            "FAILED test_signal.py::test_deadlock - Failed: Timeout (>0.05s)*",
            "FAILED test_signal.py::test_deadlock_on_uvloop - TimeoutError*",
        ]
    )
    output = result.stdout.str()
    report = output[output.index("_ test_deadlock _") : output.index("- Captured stdout teardown -")]
    assert "deadlock.py" not in report  # nothing in it says where the coroutines wait


THREAD_METHOD = """
import pytest

from deadlock import opposite_transfers

@pytest.mark.timeout(0.2, method="thread")
@pytest.mark.asyncio
async def test_deadlock():
    print("transfers started")
    await opposite_transfers()

def test_never_runs():
    pass
"""


def test_the_thread_method_and_faulthandler_dump_the_threads_but_not_the_tasks(pytester: pytest.Pytester) -> None:
    # In a subprocess: the thread method ends the process with os._exit(1), which would end this run.
    pytester.makeini(SANDBOX_INI + "faulthandler_timeout = 0.05\n")
    pytester.makepyfile(deadlock=DEADLOCK, test_thread=THREAD_METHOD)

    result = pytester.runpytest_subprocess(*LEAN, timeout=60)

    assert result.ret == 1
    # faulthandler dumps every thread after 0.05 s, to stderr, and lets the test go on hanging.
    result.stderr.fnmatch_lines(
        [
            "Timeout (0:00:00.050000)!",
            "Thread 0x* (most recent call first):",
            '  File "*selectors.py", line * in select',
            '  File "*base_events.py", line * in _run_once',
        ]
    )
    # pytest-timeout, after 0.2 s: the captured output, the main thread's stack, then the process exits.
    result.stdout.fnmatch_lines(
        [
            "test_thread.py +*+ Timeout +*+",
            "*~ Captured stdout ~*",
            "transfers started",
            "*~ Stack of MainThread (*) ~*",
            '  File "*base_events.py", line *, in _run_once',
            '  File "*selectors.py", line *, in select',
        ]
    )
    assert re.fullmatch(r"\++ Timeout \++", result.outlines[-1])  # no summary, test_never_runs never ran
    output = result.stdout.str() + result.stderr.str()
    assert "test_deadlock" not in output  # the stuck test is not even named (only -v prints test names)
    assert "transfer" not in output.replace("transfers started", "")  # nor where the tasks wait


@pytest.mark.asyncio
async def test_task_get_stack_shows_only_the_tasks_own_coroutine_not_where_it_waits() -> None:
    ledger = Ledger({"alice": 100, "bob": 100})

    async def pay(source: str, target: str) -> None:
        await ledger.transfer_source_first(source, target, 10)

    payments = [
        asyncio.create_task(pay(*pair), name=" pays ".join(pair)) for pair in [("alice", "bob"), ("bob", "alice")]
    ]
    _, pending = await asyncio.wait(payments, timeout=0.01)  # bounded: only to show they are stuck
    assert pending == set(payments)

    for task in payments:
        (frame,) = task.get_stack()  # one frame, the task's own coroutine, whatever it awaits below
        assert frame.f_code.co_name == "pay"
        printed = io.StringIO()
        task.print_stack(file=printed)
        assert printed.getvalue().startswith(f"Stack for <Task pending name='{task.get_name()}' coro=<")
        assert printed.getvalue().count('  File "') == 1
        # Following the awaits down (deadline.py's suspended_calls) reaches the lock it waits for.
        *_, innermost = suspended_calls(task)
        assert re.fullmatch(r"ledger\.py:\d+ in \S*_move\S*: async with self\._locks\[second\]:", innermost)
        task.cancel()
    await asyncio.wait(payments)
