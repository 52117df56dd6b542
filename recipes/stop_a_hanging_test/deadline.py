"""A deadline for an async test that, when it passes, says where every task was waiting.

A deadlocked test sits in the event loop's ``select()`` with every task suspended, and a
suspended task is on no thread's stack: pytest-timeout's and faulthandler's stack dumps
show the loop, never the coroutines. ``with_deadline`` runs the test inside
``asyncio.timeout`` on the test's own loop. When the deadline passes it first records
the calls each task on the loop is suspended in, then cancels the test, which fails
with that list.
"""

from __future__ import annotations

import asyncio
import functools
import linecache
import os
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ParamSpec

import pytest

P = ParamSpec("P")
ASYNCIO = os.path.dirname(asyncio.__file__)


def with_deadline(
    test: Callable[P, Coroutine[Any, Any, None]], seconds: float, name: str
) -> Callable[P, Coroutine[Any, Any, None]]:
    """Wrap ``test`` so that it fails after ``seconds``, naming ``name`` and where each task waited."""

    @functools.wraps(test)
    async def run(*args: P.args, **kwargs: P.kwargs) -> None:
        loop = asyncio.get_running_loop()
        asyncio.current_task().set_name(name)  # type: ignore[union-attr]  # always inside a task here
        stuck: list[str] = []
        deadline = asyncio.timeout(None)

        def expire() -> None:  # first the report, while each task still waits where it got stuck
            stuck.append(f"{name} did not finish within {seconds:g} s. {where_tasks_wait()}")
            deadline.reschedule(loop.time())  # then asyncio.timeout cancels the test

        watchdog = loop.call_later(seconds, expire)
        try:
            async with deadline:
                await test(*args, **kwargs)
        except Exception as exc:
            if not stuck:
                raise  # the test's own error, a TimeoutError too: not this deadline's doing
            if not isinstance(exc, TimeoutError):  # the test caught the cancellation and raised another error
                raise pytest.fail.Exception(stuck[0]) from exc  # its traceback first, then the report
        finally:
            watchdog.cancel()
        if stuck:  # the deadline's TimeoutError, or a test that caught the cancellation and returned
            pytest.fail(stuck[0], pytrace=False)

    return run


def where_tasks_wait() -> str:
    """Every task on the running loop with the calls it is suspended in, innermost last."""
    lines = ["Where each task was waiting (innermost call last):"]
    for task in sorted(asyncio.all_tasks(), key=lambda task: task.get_name()):
        lines.append(f"Task {task.get_name()!r}:")
        lines.extend(f"  {call}" for call in suspended_calls(task))
    return "\n".join(lines)


def suspended_calls(task: asyncio.Task[Any]) -> Iterator[str]:
    """Follow the task's chain of awaits; leave out asyncio's own frames and this module's."""
    awaited: Any = task.get_coro()
    while getattr(awaited, "cr_frame", None) is not None:  # a Future (or an async generator) ends the chain
        code, line = awaited.cr_frame.f_code, awaited.cr_frame.f_lineno
        if os.path.dirname(code.co_filename) != ASYNCIO and code.co_filename != __file__:
            source = linecache.getline(code.co_filename, line).strip()
            yield f"{os.path.basename(code.co_filename)}:{line} in {code.co_name}: {source}"
        awaited = awaited.cr_await
