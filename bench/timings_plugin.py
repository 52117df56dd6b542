"""A pytest plugin for the timed suite runs: every test's phase durations, to a JSON file.

Loaded with ``-p bench.timings_plugin``; the file is ``$BENCH_TIMINGS_FILE``.
It keeps one float per phase per test and a word on what each test uses
(a pytester sandbox, PostgreSQL, an aiohttp server), so it costs the run next
to nothing and the bench can say where the suite's time goes.
"""

from __future__ import annotations

import json
import os

import pytest

_durations: dict[str, dict[str, float]] = {}
_kinds: dict[str, str] = {}


def kind_of(fixturenames: list[str]) -> str:
    """The costliest thing a test sets up, judged by the fixtures it uses."""
    if "pytester" in fixturenames:
        return "pytester sandbox"
    if any(name.startswith("postgres") for name in fixturenames):
        return "PostgreSQL"
    if any(name.startswith("aiohttp_") for name in fixturenames):
        return "aiohttp test server"
    return "other"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        _kinds[item.nodeid] = kind_of(list(getattr(item, "fixturenames", ())))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _durations.setdefault(report.nodeid, {})[report.when] = report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("BENCH_TIMINGS_FILE")
    if path:
        with open(path, "w") as out:
            json.dump({"durations": _durations, "kinds": _kinds}, out)
