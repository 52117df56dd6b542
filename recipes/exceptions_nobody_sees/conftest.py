"""Fail the test whose background work raised an error that nobody handled.

A task that fails with nobody awaiting it, and a callback that raises, do not fail any
test: asyncio hands the error to the loop's exception handler, which only logs it, and
pytest shows the logs of passing tests to nobody. This autouse fixture installs a handler
that also keeps each report, then fails the test at teardown. A test that expects such an
error asks for ``loop_errors``, checks it and empties it.
"""

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio


def describe(contexts: list[dict[str, Any]]) -> str:
    return "\n".join(f"{context['message']}: {context.get('exception')!r}" for context in contexts)


@pytest_asyncio.fixture(autouse=True)
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    loop = asyncio.get_running_loop()
    caught: list[dict[str, Any]] = []

    def keep(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        caught.append(context)
        loop.default_exception_handler(context)  # still logged, with its traceback

    previous = loop.get_exception_handler()
    loop.set_exception_handler(keep)
    yield caught
    gc.collect()  # a failed task in a reference cycle reports only when collected: now, not in a later test
    loop.set_exception_handler(previous)
    if caught:
        pytest.fail(f"the event loop reported {len(caught)} unhandled error(s):\n{describe(caught)}", pytrace=False)
