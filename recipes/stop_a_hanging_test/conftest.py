"""Run every async test in this folder under a deadline that says where each task was stuck.

``@pytest.mark.deadline(seconds)`` gives one test (or a module, through ``pytestmark``)
a deadline of its own. The deadline covers the test body only; fixtures and sync code
are left to pytest-timeout (see test_pitfalls.py for what it can and cannot stop).
"""

import inspect
from collections.abc import Iterator

import pytest

from .deadline import with_deadline

DEFAULT_DEADLINE = 10.0  # seconds: generous, so that a busy CI machine never trips it


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deadline(seconds): fail an async test that runs longer")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(item.obj):
        return (yield)
    test = item.obj
    marker = item.get_closest_marker("deadline")
    item.obj = with_deadline(test, marker.args[0] if marker else DEFAULT_DEADLINE, item.name)
    try:
        return (yield)  # pytest-asyncio runs item.obj, now the wrapped test, in the test's task
    finally:
        item.obj = test
