"""Run every async test in this folder twice: on asyncio's own event loop and on uvloop.

pytest-asyncio asks this hook, for each async test, which loop factories to use,
and parametrizes the test with them: the names become the test ids
(``[asyncio]``, ``[uvloop]``). A hook in a conftest.py applies to the tests in
its own folder and below, so this one changes nothing elsewhere.
"""

import asyncio
from collections.abc import Callable, Mapping

import pytest
import uvloop


# tryfirst: this hook's answer wins over a broader one in a parent conftest.py,
# such as the cookbook's COOKBOOK_LOOP=uvloop switch, which offers uvloop only.
@pytest.hookimpl(tryfirst=True)
def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    # asyncio.SelectorEventLoop, not asyncio.new_event_loop: the latter asks the
    # global policy, which gives uvloop if anything has installed uvloop's policy.
    return {"asyncio": asyncio.SelectorEventLoop, "uvloop": uvloop.new_event_loop}
