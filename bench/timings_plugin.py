"""A pytest plugin for the timed suite runs: every test's phase durations, to a JSON file.

Loaded with ``-p bench.timings_plugin``; the file is ``$BENCH_TIMINGS_FILE``.
It keeps one float per phase per test, a word on what each test uses (a pytester
sandbox, PostgreSQL, an aiohttp server), and for sandbox tests how many pytest runs
they started in-process and in a subprocess, so it costs the run next to nothing and
the bench can say where the suite's time goes and why a slow test is slow.

Each session that loads the plugin gets a recorder of its own, so a sandbox that loads
it too (as tests/test_docs.py does) records its own tests and leaves the outer ones alone.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Generator
from typing import Any

import pytest

# Pytester methods that start a pytest run -> how the run is counted.
RUNNERS = {
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


class Recorder:
    """What one session records; registered as a plugin of that session's config."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.durations: dict[str, dict[str, float]] = {}
        self.kinds: dict[str, str] = {}
        self.sandbox_runs: dict[str, dict[str, int]] = {}  # nodeid -> {"in-process": n, "subprocess": n}
        self.current: str | None = None  # the node id of the test running now
        self.depth = 0  # > 0 inside a counted run: runpytest calls inline_run, which must not count again

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.kinds[item.nodeid] = kind_of(list(getattr(item, "fixturenames", ())))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        self.current = item.nodeid
        try:
            return (yield)
        finally:
            self.current = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.durations.setdefault(report.nodeid, {})[report.when] = report.duration

    def pytest_sessionfinish(self) -> None:
        if self.path:
            with open(self.path, "w") as out:
                json.dump({"durations": self.durations, "kinds": self.kinds, "sandbox_runs": self.sandbox_runs}, out)


_active: list[Recorder] = []  # the recorders of the sessions running now, innermost last
_originals: dict[str, Callable[..., Any]] = {}  # the Pytester methods as they were before counting


def _counting(method: Callable[..., Any], how: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        recorder = next((r for r in reversed(_active) if r.current), None)
        if recorder is None or recorder.current is None:
            return method(*args, **kwargs)
        if recorder.depth == 0:
            counts = recorder.sandbox_runs.setdefault(recorder.current, {})
            counts[how] = counts.get(how, 0) + 1
        recorder.depth += 1
        try:
            return method(*args, **kwargs)
        finally:
            recorder.depth -= 1

    return wrapper


recorder_key = pytest.StashKey[Recorder]()


def pytest_configure(config: pytest.Config) -> None:
    recorder = Recorder(os.environ.get("BENCH_TIMINGS_FILE"))
    config.stash[recorder_key] = recorder
    config.pluginmanager.register(recorder, f"bench-timings-recorder-{id(recorder)}")
    if not _active:  # the outermost session patches Pytester once
        for name, how in RUNNERS.items():
            _originals[name] = getattr(pytest.Pytester, name)
            setattr(pytest.Pytester, name, _counting(_originals[name], how))
    _active.append(recorder)


def pytest_unconfigure(config: pytest.Config) -> None:
    _active.remove(config.stash[recorder_key])
    if not _active:
        for name, method in _originals.items():
            setattr(pytest.Pytester, name, method)
        _originals.clear()
