"""Fail any test in this folder that leaves asyncio tasks pending when it ends.

pytest-asyncio closes each test's loop with ``asyncio.Runner``, which quietly
cancels whatever is still pending: a test that forgot to stop its background
work passes anyway. This autouse fixture turns that into a failure that names
each leftover task and the line where it is waiting.
"""

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio


def describe(task: asyncio.Task[object]) -> str:
    frames = task.get_stack(limit=1)
    where = f"{frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else "not started"
    return f"{task.get_name()} (waiting at {where})"


@pytest_asyncio.fixture(autouse=True)
async def no_pending_tasks() -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    leftover = asyncio.all_tasks() - before - {asyncio.current_task()}
    if leftover:
        report = ", ".join(sorted(describe(task) for task in leftover))
        for task in leftover:
            task.cancel()
        await asyncio.wait(leftover, timeout=2)  # clean-up time, bounded: a task may refuse to stop
        pytest.fail(f"the test left {len(leftover)} task(s) pending: {report}", pytrace=False)
