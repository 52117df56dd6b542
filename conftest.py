"""Shared infrastructure only (PostgreSQL provider, run report, loop switch); recipes keep their own fixtures."""

import asyncio
import os
from collections.abc import Callable, Mapping

import pytest

pytest_plugins = ["postgres_provider", "run_report"]

# COOKBOOK_LOOP=uvloop runs every async test on uvloop (`make test-uvloop`).
COOKBOOK_LOOP = os.environ.get("COOKBOOK_LOOP") or "asyncio"


def pytest_configure(config: pytest.Config) -> None:
    if COOKBOOK_LOOP not in ("asyncio", "uvloop"):
        raise pytest.UsageError(f"COOKBOOK_LOOP={COOKBOOK_LOOP!r}: use 'uvloop', or 'asyncio' (the default)")


def pytest_report_header() -> str:
    return f"event loop: {COOKBOOK_LOOP} (COOKBOOK_LOOP)"


if COOKBOOK_LOOP == "uvloop":
    import uvloop

    # Defined only when switched on: the hook may not return None, and when it
    # exists pytest-asyncio parametrizes every async test with its factories.
    # One factory keeps the test ids as they are. A recipe's own hook (see
    # recipes/run_under_uvloop/conftest.py) takes precedence in its folder.
    def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item
    ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
        return {"uvloop": uvloop.new_event_loop}
