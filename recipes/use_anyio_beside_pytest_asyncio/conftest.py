"""Keep pytest-asyncio's auto mode off the anyio-marked tests in this folder.

In ``asyncio_mode = "auto"`` pytest-asyncio claims every ``async def`` test, also those
marked ``@pytest.mark.anyio``: it runs them on its own asyncio loop, the ``[trio]`` copies
included, while their async fixtures still run on the anyio plugin's loop (see
test_pitfalls.py). This hook hands such tests back to the anyio plugin. In strict mode,
pytest-asyncio's default, it finds nothing to do, and this file is not needed.
"""

import pytest
from pytest_asyncio import is_async_test


# pytest calls this hook only for items under this conftest's folder.
def pytest_itemcollected(item: pytest.Item) -> None:
    if is_async_test(item) and item.get_closest_marker("anyio"):
        item.__class__ = pytest.Function  # type: ignore[assignment]  # pytest-asyncio's class runs it on its loop
        item.own_markers[:] = [mark for mark in item.own_markers if mark.name != "asyncio"]  # the mark auto mode added
