"""Mocks that let a bug through: called but never awaited, patched in the wrong place, run dry."""

import aiohttp
import pytest
from pytest_mock import MockerFixture

from . import paginated_api
from .paginated_api import Page, fetch_all_items

pytest_plugins = ["pytester"]

# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
FAST = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "pytest_mock", "-p", "no:cacheprovider"]
SANDBOX_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
API = """
async def fetch_page(cursor):
    raise RuntimeError("the real API was called")

async def refresh():
    fetch_page(None)  # the bug: forgot await
"""


async def count_first_page_without_awaiting(session: aiohttp.ClientSession) -> None:
    """The bug a test should catch: the call is made, the coroutine is dropped."""
    paginated_api.fetch_page(session, "https://api.example.org/v1", None)  # type: ignore[unused-coroutine]


@pytest.mark.asyncio
async def test_called_is_not_awaited(mocker: MockerFixture) -> None:
    fetch_page = mocker.patch.object(paginated_api, "fetch_page")
    # The dropped coroutine warns as it is collected; caught here so it cannot fail this test.
    with pytest.warns(RuntimeWarning, match=r"^coroutine 'AsyncMockMixin\._execute_mock_call' was never awaited$"):
        await count_first_page_without_awaiting(mocker.sentinel.session)

    fetch_page.assert_called_once()  # passes: the bug slips through
    with pytest.raises(AssertionError, match=r"^Expected fetch_page to have been awaited once\. Awaited 0 times\.$"):
        fetch_page.assert_awaited_once()


def test_a_forgotten_await_fails_the_test_under_filterwarnings_error(pytester: pytest.Pytester) -> None:
    # assert_called_once_with() passes although nothing was awaited. With default
    # warning filters only a warning tells; with `error` the dropped coroutine fails the test.
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        api=API,
        test_forgotten_await="""
        import pytest
        import api

        @pytest.mark.asyncio
        @pytest.mark.filterwarnings("default")
        async def test_a_with_default_warnings(mocker):
            fetch_page = mocker.patch.object(api, "fetch_page")
            await api.refresh()
            fetch_page.assert_called_once_with(None)

        @pytest.mark.asyncio
        async def test_b_with_warnings_as_errors(mocker):
            fetch_page = mocker.patch.object(api, "fetch_page")
            await api.refresh()
            fetch_page.assert_called_once_with(None)
        """,
    )
    result = pytester.runpytest(*FAST)

    result.assert_outcomes(passed=1, failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_b_with_warnings_as_errors _*",
            "E       RuntimeWarning: coroutine 'AsyncMockMixin._execute_mock_call' was never awaited",
            "E*pytest.PytestUnraisableExceptionWarning: Exception ignored in: "
            "<coroutine object AsyncMockMixin._execute_mock_call at 0x*>",
            "*= warnings summary =*",
            "test_forgotten_await.py::test_a_with_default_warnings",
            "*RuntimeWarning: coroutine 'AsyncMockMixin._execute_mock_call' was never awaited",
        ]
    )


def test_patching_the_definition_instead_of_the_lookup_runs_the_real_function(pytester: pytest.Pytester) -> None:
    # `from api import fetch_page` copies the name into service; patching api afterwards
    # does not touch service's copy. Patch where the name is looked up.
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        api=API,
        service="""
        from api import fetch_page

        async def first_items():
            return (await fetch_page(None))["items"]
        """,
        test_patch_target="""
        import pytest
        import api
        import service

        @pytest.mark.asyncio
        async def test_patched_where_defined(mocker):
            mocker.patch.object(api, "fetch_page", return_value={"items": ["a"]})
            assert await service.first_items() == ["a"]

        @pytest.mark.asyncio
        async def test_patched_where_looked_up(mocker):
            mocker.patch.object(service, "fetch_page", return_value={"items": ["a"]})
            assert await service.first_items() == ["a"]
        """,
    )
    result = pytester.runpytest(*FAST)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*_ test_patched_where_defined _*", "E       RuntimeError: the real API was called"])


@pytest.mark.asyncio
async def test_a_side_effect_list_that_runs_out_raises_stop_async_iteration(mocker: MockerFixture) -> None:
    # The fake page promises a next page the list does not hold; the mock then raises a
    # bare StopAsyncIteration that names neither the mock nor the missing page.
    fetch_page = mocker.patch.object(paginated_api, "fetch_page", side_effect=[Page(("a",), "c1")])

    with pytest.raises(StopAsyncIteration) as excinfo:
        await fetch_all_items(mocker.sentinel.session, "https://api.example.org/v1")

    assert str(excinfo.value) == ""
    assert fetch_page.await_count == 2


@pytest.mark.asyncio
async def test_autospec_gives_a_function_that_wraps_an_async_mock(mocker: MockerFixture) -> None:
    strict = mocker.patch.object(paginated_api, "fetch_page", autospec=True)

    assert not isinstance(strict, mocker.AsyncMock)  # so an isinstance check on it fails...
    assert isinstance(strict.mock, mocker.AsyncMock)  # ...though the AsyncMock API works on it
