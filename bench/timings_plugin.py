"""A pytest plugin for the timed suite runs: every test's phase durations, to a JSON file.

Loaded with ``-p bench.timings_plugin``; the file is ``$BENCH_TIMINGS_FILE``.
It keeps one float per phase per test, a word on what each test uses (a pytester
sandbox, PostgreSQL, an aiohttp server), and for sandbox tests how many pytest runs
they started in-process and in a subprocess, so it costs the run next to nothing and
the bench can say where the suite's time goes and why a slow test is slow.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Generator
from typing import Any

import pytest

_durations: dict[str, dict[str, float]] = {}
_kinds: dict[str, str] = {}
_sandbox_runs: dict[str, dict[str, int]] = {}  # nodeid -> {"in-process": n, "subprocess": n}
_current: list[str] = []  # the node id of the test running now, if any
_depth = [0]  # > 0 while inside a counted sandbox run (runpytest calls inline_run: count it once)

# Pytester methods that start a pytest run -> how the run is counted.
_RUNNERS = {
    "inline_run": "in-process",
    "runpytest_inprocess": "in-process",
    "runpytest_subprocess": "subprocess",
}


def kind_of(fixturenames: list[str]) -> str:
    """The costliest thing a test sets up, judged by the fixtures it uses."""
    if "pytester" in fixturenames:
        return "pytester sandbox"
    if any(name.startswith("postgres") for name in fixturenames):
        return "PostgreSQL"
    if any(name.startswith("aiohttp_") for name in fixturenames):
        return "aiohttp test server"
    return "other"


def _counting(method: Callable[..., Any], how: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _current and not _depth[0]:
            counts = _sandbox_runs.setdefault(_current[-1], {})
            counts[how] = counts.get(how, 0) + 1
        _depth[0] += 1
        try:
            return method(*args, **kwargs)
        finally:
            _depth[0] -= 1

    wrapper.__dict__["_bench_counting"] = True
    return wrapper


_originals: dict[str, Callable[..., Any]] = {}


def pytest_configure(config: pytest.Config) -> None:
    for name, how in _RUNNERS.items():
        method = getattr(pytest.Pytester, name)
        if not getattr(method, "_bench_counting", False):
            _originals[name] = method
            setattr(pytest.Pytester, name, _counting(method, how))


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, method in _originals.items():
        setattr(pytest.Pytester, name, method)
    _originals.clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        _kinds[item.nodeid] = kind_of(list(getattr(item, "fixturenames", ())))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    _current.append(item.nodeid)
    try:
        return (yield)
    finally:
        _current.pop()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _durations.setdefault(report.nodeid, {})[report.when] = report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("BENCH_TIMINGS_FILE")
    if path:
        with open(path, "w") as out:
            json.dump({"durations": _durations, "kinds": _kinds, "sandbox_runs": _sandbox_runs}, out)
