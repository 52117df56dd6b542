"""Background errors that pass unseen, each in a sandbox with warnings as errors, and conftest.py catching them."""

import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent
SANDBOX_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
LEAN = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]
NOT_RETRIEVED = "*ERROR    asyncio:*Task exception was never retrieved"


def refused(url: str, coro: str = "post") -> str:
    return f"future: <Task finished name=* coro=<{coro}() done, *> exception=ConnectionError('POST {url}: refused')>"


WHERE_IT_SHOWS = """
import asyncio
import gc

import pytest

gc.disable()  # pins the collection to test 5; in a real run it comes whenever allocations trigger it
kept = set()  # module-level: lives until the interpreter exits

async def post(url):
    raise ConnectionError(f"POST {url}: refused")

class Sender:
    def __init__(self, url):
        self.task = asyncio.create_task(self.send(url))

    async def send(self, url):
        await post(url)  # the error's traceback holds this frame, the frame self, self the task: a cycle

@pytest.mark.asyncio
async def test_1_drops_its_task():
    asyncio.create_task(post("http://dropped.test"))
    await asyncio.sleep(0)

@pytest.mark.asyncio
async def test_2_loses_a_task_in_a_reference_cycle():
    Sender("http://cycle.test")
    await asyncio.sleep(0)

@pytest.mark.asyncio
async def test_3_leaves_a_dispatcher_pending_that_holds_the_failed_task():
    urls = asyncio.Queue()

    async def dispatch():
        while True:
            delivery = asyncio.create_task(post(await urls.get()))

    asyncio.create_task(dispatch())
    print("dispatcher started")
    urls.put_nowait("http://pending.test")
    await asyncio.sleep(0)
    await asyncio.sleep(0)

@pytest.mark.asyncio
async def test_4_keeps_its_task_in_a_module_global():
    kept.add(asyncio.create_task(post("http://kept.test")))
    await asyncio.sleep(0)

def test_5_fails_for_a_reason_of_its_own():
    gc.collect()
    assert False
"""


def test_a_failed_task_is_reported_late_elsewhere_or_never(pytester: pytest.Pytester) -> None:
    # In a subprocess: the module-level task lives until that interpreter exits.
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(test_where=WHERE_IT_SHOWS)

    result = pytester.runpytest_subprocess(*LEAN, "-rP", "--tb=short")  # -rP shows the logs of passing tests

    result.assert_outcomes(passed=4, failed=1)  # filterwarnings = error catches none of them
    pending = [NOT_RETRIEVED, refused("http://pending.test")]
    # 3.11: pytest-asyncio's loop teardown cancels the dispatcher, which frees the failed task at once.
    # 3.12 and 3.13: the cancelled dispatcher sits in a reference cycle; its task waits for the gc in test 5.
    at_loop_close, in_test_5 = (
        (["*Captured log teardown*", *pending], []) if sys.version_info < (3, 12) else ([], pending)
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_5_fails_for_a_reason_of_its_own _*",
            "*Captured log call*",  # other tests' errors, under the test that happened to run the gc
            NOT_RETRIEVED,
            refused("http://cycle.test", coro="Sender.send"),
            *in_test_5,
            "*= PASSES =*",  # from here on, only with -rP: in a default run these lines are nowhere
            "*_ test_1_drops_its_task _*",
            "*Captured log call*",
            NOT_RETRIEVED,
            refused("http://dropped.test"),
            "*_ test_3_leaves_a_dispatcher_pending_that_holds_the_failed_task _*",
            "dispatcher started",
            *at_loop_close,
            "*= 1 failed, 4 passed in *",
        ]
    )
    assert result.stdout.str().count("'POST http://pending.test: refused'") == 1  # reported once, in one place
    # Test 4's task outlives the run: printed on stderr as the interpreter exits, after pytest's report.
    result.stderr.fnmatch_lines(["Task exception was never retrieved", refused("http://kept.test")])


ESCAPES = """
import asyncio
import threading

import pytest

background = set()

async def post(url):
    raise ConnectionError(f"POST {url}: refused")

def post_in_a_thread():
    raise ConnectionError("POST http://thread.test: refused")

@pytest.mark.asyncio
async def test_drops_its_task():
    asyncio.create_task(post("http://dropped.test"))
    await asyncio.sleep(0)

@pytest.mark.asyncio
async def test_keeps_its_task_in_a_set_but_never_reads_its_error():
    task = asyncio.create_task(post("http://discarded.test"))
    background.add(task)
    task.add_done_callback(background.discard)
    await asyncio.sleep(0)

@pytest.mark.asyncio
async def test_reraises_in_a_done_callback():
    task = asyncio.create_task(post("http://callback.test"))
    task.add_done_callback(lambda t: t.result())
    await asyncio.sleep(0)

@pytest.mark.asyncio
async def test_runs_in_the_executor_and_waits_without_looking():
    await asyncio.wait([asyncio.get_running_loop().run_in_executor(None, post_in_a_thread)])
"""
UNGUARDED_ONLY = """
def test_raises_in_a_thread():
    thread = threading.Thread(target=post_in_a_thread, name="webhook-sender")
    thread.start()
    thread.join()

@pytest.mark.asyncio
async def test_fails_from_a_loop_exception_handler():
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: pytest.fail(context["message"]))
    asyncio.create_task(post("http://handler.test"))
    await asyncio.sleep(0)
"""


def test_only_a_thread_fails_unguarded_and_loop_errors_catches_the_rest(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(test_unguarded=ESCAPES + UNGUARDED_ONLY)
    guarded = pytester.mkpydir("guarded")
    (guarded / "conftest.py").write_text((HERE / "conftest.py").read_text())  # the recipe's loop_errors fixture
    (guarded / "test_guarded.py").write_text(ESCAPES)

    result = pytester.runpytest(*LEAN, "-rP", "--tb=short")

    # Unguarded, only the thread fails: pytest hooks threading.excepthook, and asyncio only logs.
    # Guarded, each of the four tests errors at teardown, named by what the loop reported.
    result.assert_outcomes(passed=9, failed=1, errors=4)
    # asyncio names a callback with its arguments, cut short; 3.13 leaves them out.
    lambda_args = "()" if sys.version_info >= (3, 13) else "(<Task finishe...st: refused')>)"
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_drops_its_task _*",
            "the event loop reported 1 unhandled error(s):",
            "Task exception was never retrieved: ConnectionError('POST http://dropped.test: refused')",
            "*_ ERROR at teardown of test_keeps_its_task_in_a_set_but_never_reads_its_error _*",
            "Task exception was never retrieved: ConnectionError('POST http://discarded.test: refused')",
            "*_ ERROR at teardown of test_reraises_in_a_done_callback _*",
            f"Exception in callback test_reraises_in_a_done_callback.<locals>.<lambda>{lambda_args} at *"
            "test_guarded.py:*: ConnectionError('POST http://callback.test: refused')",
            "*_ ERROR at teardown of test_runs_in_the_executor_and_waits_without_looking _*",
            "Future exception was never retrieved: ConnectionError('POST http://thread.test: refused')",
            "*PytestUnhandledThreadExceptionWarning: Exception in thread webhook-sender",
            "*= PASSES =*",
            "*_ test_fails_from_a_loop_exception_handler _*",
            "*ERROR    asyncio:*Unhandled error in exception handler",
            "context: {'message': 'Task exception was never retrieved', *",
            "*Failed: Task exception was never retrieved",
        ]
    )
