"""Mock the async function a client depends on, and check how it was awaited."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import AsyncMock, call

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpServer
from pytest_mock import MockerFixture

from . import paginated_api
from .paginated_api import PAGE_SIZE, Page, PaginationError, fetch_all_items

BASE_URL = "https://api.example.org/v1"


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # A real session, so the tests can check it is passed through untouched.
    # With fetch_page mocked, it never sends a request.
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def fetch_page(mocker: MockerFixture) -> AsyncMock:
    # Patch the module object the client looks the name up in: this keeps
    # working when the folder is copied, unlike a "package.module.name" string.
    mock = mocker.patch.object(paginated_api, "fetch_page")
    assert isinstance(mock, AsyncMock)  # narrows the type for mypy; tested below
    return mock


# --- mocked: the paging logic, with no server at all ---------------------------------------------


@pytest.mark.asyncio
async def test_patching_an_async_function_gives_an_async_mock(mocker: MockerFixture) -> None:
    mock = mocker.patch.object(paginated_api, "fetch_page")  # no new_callable=AsyncMock needed

    assert isinstance(mock, AsyncMock)
    assert paginated_api.fetch_page is mock


@pytest.mark.asyncio
async def test_a_single_page_is_fetched_once_from_the_start(
    fetch_page: AsyncMock, session: aiohttp.ClientSession
) -> None:
    fetch_page.return_value = Page(("a", "b"), None)

    assert await fetch_all_items(session, BASE_URL) == ["a", "b"]
    fetch_page.assert_awaited_once_with(session, BASE_URL, None)
    assert fetch_page.await_count == 1


@pytest.mark.asyncio
async def test_each_page_is_requested_with_the_previous_pages_cursor(
    fetch_page: AsyncMock, session: aiohttp.ClientSession
) -> None:
    fetch_page.side_effect = [Page(("a",), "c1"), Page((), "c2"), Page(("b", "c"), None)]

    assert await fetch_all_items(session, BASE_URL) == ["a", "b", "c"]
    assert fetch_page.await_args_list == [
        call(session, BASE_URL, None),
        call(session, BASE_URL, "c1"),
        call(session, BASE_URL, "c2"),
    ]


@pytest.mark.asyncio
async def test_an_error_on_a_later_page_propagates_and_stops_the_listing(
    fetch_page: AsyncMock, session: aiohttp.ClientSession
) -> None:
    reset = ConnectionResetError("peer reset on page 3")
    fetch_page.side_effect = [Page(("a",), "c1"), Page(("b",), "c2"), reset, Page(("never",), None)]

    with pytest.raises(ConnectionResetError) as excinfo:
        await fetch_all_items(session, BASE_URL)

    assert excinfo.value is reset
    assert fetch_page.await_count == 3  # the page after the error was never requested


@pytest.mark.asyncio
async def test_a_cursor_seen_twice_stops_the_listing(fetch_page: AsyncMock, session: aiohttp.ClientSession) -> None:
    fetch_page.side_effect = [Page(("a",), "c1"), Page(("b",), "c1")]

    with pytest.raises(PaginationError, match="the API sent cursor 'c1' twice"):
        await fetch_all_items(session, BASE_URL)
    assert fetch_page.await_count == 2


@pytest.mark.asyncio
async def test_a_listing_that_never_ends_is_cut_off_at_max_pages(
    fetch_page: AsyncMock, session: aiohttp.ClientSession
) -> None:
    # A callable side_effect computes each page from the call's own arguments.
    def endless(_session: aiohttp.ClientSession, _base_url: str, cursor: str | None) -> Page:
        number = 0 if cursor is None else int(cursor)
        return Page((f"item-{number}",), str(number + 1))

    fetch_page.side_effect = endless

    with pytest.raises(PaginationError, match="gave up after 3 pages"):
        await fetch_all_items(session, BASE_URL, max_pages=3)
    assert fetch_page.await_count == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("max_pages", [1, 2])
async def test_the_last_allowed_page_may_end_the_listing(
    fetch_page: AsyncMock, session: aiohttp.ClientSession, max_pages: int
) -> None:
    pages = [Page((f"item-{n}",), f"c{n}") for n in range(max_pages - 1)] + [Page(("last",), None)]
    fetch_page.side_effect = pages

    items = await fetch_all_items(session, BASE_URL, max_pages=max_pages)

    assert items == [item for page in pages for item in page.items]
    assert fetch_page.await_count == max_pages


@pytest.mark.asyncio
@pytest.mark.parametrize("max_pages", [0, -1])
async def test_max_pages_below_one_is_refused_before_any_request(
    fetch_page: AsyncMock, session: aiohttp.ClientSession, max_pages: int
) -> None:
    with pytest.raises(ValueError, match=f"max_pages must be at least 1, got {max_pages}"):
        await fetch_all_items(session, BASE_URL, max_pages=max_pages)
    fetch_page.assert_not_awaited()


@pytest.mark.asyncio
async def test_a_side_effect_list_that_runs_out_raises_stop_async_iteration(
    fetch_page: AsyncMock, session: aiohttp.ClientSession
) -> None:
    # The pitfall: the fake pages promise a next page the list does not hold.
    # AsyncMock then raises StopAsyncIteration, which names neither the mock nor the test.
    fetch_page.side_effect = [Page(("a",), "c1")]

    with pytest.raises(StopAsyncIteration):
        await fetch_all_items(session, BASE_URL)
    assert fetch_page.await_count == 2


@pytest.mark.asyncio
async def test_autospec_rejects_a_call_that_does_not_fit_the_real_signature(
    mocker: MockerFixture, session: aiohttp.ClientSession
) -> None:
    # A plain mock accepts any arguments, so a caller that forgot base_url passes...
    loose = mocker.patch.object(paginated_api, "fetch_page")
    await paginated_api.fetch_page(session, cursor=None)  # type: ignore[call-arg]  # mypy sees it; a loose mock does not
    loose.assert_awaited_once_with(session, cursor=None)

    # ...while autospec checks every call against the real function's signature.
    mocker.stopall()
    strict: Any = mocker.patch.object(paginated_api, "fetch_page", autospec=True)
    assert not isinstance(strict, AsyncMock)  # a function with the real signature...
    assert isinstance(strict.mock, AsyncMock)  # ...wrapped around an AsyncMock
    with pytest.raises(TypeError, match="missing a required argument: 'base_url'"):
        await paginated_api.fetch_page(session, cursor=None)  # type: ignore[call-arg]

    # Correct calls still work, and assertions compare arguments by signature:
    # a positional call matches an expectation written with keywords.
    strict.return_value = Page(("a",), None)
    assert await fetch_all_items(session, BASE_URL) == ["a"]
    strict.assert_awaited_once_with(session, base_url=BASE_URL, cursor=None)


async def count_first_page_without_awaiting(session: aiohttp.ClientSession) -> None:
    """The bug a test should catch: the call is made, the coroutine is dropped."""
    paginated_api.fetch_page(session, BASE_URL, None)  # type: ignore[unused-coroutine]  # mypy sees it too


@pytest.mark.asyncio
async def test_called_is_not_awaited(fetch_page: AsyncMock, session: aiohttp.ClientSession) -> None:
    # The dropped coroutine warns when it is garbage collected; catch the warning
    # here so it does not fail the test (see the sandbox test below for that).
    with pytest.warns(RuntimeWarning, match="coroutine 'AsyncMockMixin._execute_mock_call' was never awaited"):
        await count_first_page_without_awaiting(session)

    fetch_page.assert_called_once_with(session, BASE_URL, None)  # passes: the bug slips through
    assert fetch_page.await_count == 0
    with pytest.raises(AssertionError, match=r"Expected fetch_page to have been awaited once\. Awaited 0 times\."):
        fetch_page.assert_awaited_once()


# --- real: the one function that talks HTTP, against a local server ------------------------------


@pytest_asyncio.fixture
async def api_server(aiohttp_server: AiohttpServer) -> tuple[str, list[dict[str, str]]]:
    """A local stand-in for the API: three pages, a 503 and a malformed page on request."""
    pages: dict[str | None, Any] = {
        None: {"items": ["a", "b"], "next": "p2"},
        "p2": {"items": [], "next": "p3"},
        "p3": {"items": ["c"], "next": None},
        "bad": {"items": "not a list", "next": None},
    }
    requests: list[dict[str, str]] = []

    async def items(request: web.Request) -> web.Response:
        requests.append(dict(request.query))
        cursor = request.query.get("cursor")
        if cursor == "down":
            return web.json_response({"error": "maintenance"}, status=503)
        return web.json_response(pages[cursor])

    app = web.Application()
    app.router.add_get("/v1/items", items)
    server = await aiohttp_server(app)
    return str(server.make_url("/v1/")), requests


@pytest.mark.parametrize("trailing_slash", [True, False])
@pytest.mark.asyncio
async def test_fetch_page_sends_the_cursor_and_parses_the_page(
    api_server: tuple[str, list[dict[str, str]]], session: aiohttp.ClientSession, trailing_slash: bool
) -> None:
    base_url, requests = api_server
    base_url = base_url if trailing_slash else base_url.rstrip("/")  # both reach /v1/items

    first = await paginated_api.fetch_page(session, base_url, None)
    second = await paginated_api.fetch_page(session, base_url, "p3")

    assert (first, second) == (Page(("a", "b"), "p2"), Page(("c",), None))
    assert requests == [{"limit": str(PAGE_SIZE)}, {"limit": str(PAGE_SIZE), "cursor": "p3"}]


@pytest.mark.asyncio
async def test_all_items_are_listed_from_a_real_server(
    api_server: tuple[str, list[dict[str, str]]], session: aiohttp.ClientSession
) -> None:
    base_url, requests = api_server

    async with asyncio.timeout(2):
        assert await fetch_all_items(session, base_url) == ["a", "b", "c"]
    assert [request.get("cursor") for request in requests] == [None, "p2", "p3"]


@pytest.mark.asyncio
async def test_an_http_error_status_raises_client_response_error(
    api_server: tuple[str, list[dict[str, str]]], session: aiohttp.ClientSession
) -> None:
    base_url, _ = api_server

    with pytest.raises(aiohttp.ClientResponseError) as excinfo:
        await paginated_api.fetch_page(session, base_url, "down")
    assert excinfo.value.status == 503


@pytest.mark.asyncio
async def test_a_malformed_page_from_the_server_raises_pagination_error(
    api_server: tuple[str, list[dict[str, str]]], session: aiohttp.ClientSession
) -> None:
    base_url, _ = api_server

    with pytest.raises(PaginationError, match=r"malformed page: \{'items': 'not a list'"):
        await paginated_api.fetch_page(session, base_url, "bad")


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"next": None},
        {"items": ["a", 1], "next": None},
        {"items": [], "next": 2},
        {"items": [], "next": ""},
    ],
)
def test_a_page_off_the_wire_format_is_refused(body: object) -> None:
    with pytest.raises(PaginationError, match="malformed page"):
        paginated_api.parse_page(body)


def test_a_page_without_next_is_the_last_page() -> None:
    assert paginated_api.parse_page({"items": ["z"], "next": None}) == Page(("z",), None)


# --- pitfalls, each in a sandbox -------------------------------------------------------------------


SANDBOX_CONFIG = (
    "[pytest]\n"
    "asyncio_default_fixture_loop_scope = function\n"
    "asyncio_default_test_loop_scope = function\n"
    "filterwarnings = error\n"
)
# A fixed order inside the sandbox, and no hypothesis plugin: pytester restores
# sys.modules after each in-process run, so that plugin would be re-imported every time.
SANDBOX_ARGS = ("-p", "no:randomly", "-p", "no:hypothesispytest")


def write_forgotten_await_sandbox(pytester: pytest.Pytester) -> None:
    """Code that forgets `await`, and a test that checks only that the call was made."""
    pytester.makeini(SANDBOX_CONFIG)
    pytester.makepyfile(
        api="""
        async def fetch_page(cursor):
            raise RuntimeError("the real API was called")

        async def refresh():
            fetch_page(None)  # forgot await
        """,
        test_forgotten_await="""
        import pytest
        import api

        @pytest.mark.asyncio
        async def test_checks_only_the_call(mocker):
            fetch_page = mocker.patch.object(api, "fetch_page")
            await api.refresh()
            fetch_page.assert_called_once_with(None)
        """,
    )


def test_a_forgotten_await_passes_a_called_check_with_only_a_warning(pytester: pytest.Pytester) -> None:
    write_forgotten_await_sandbox(pytester)

    result = pytester.runpytest(*SANDBOX_ARGS, "-W", "default")  # -W wins over the ini's "error"

    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*RuntimeWarning: coroutine 'AsyncMockMixin._execute_mock_call' was never awaited"])


def test_a_forgotten_await_fails_the_test_under_filterwarnings_error(pytester: pytest.Pytester) -> None:
    # assert_called_once_with() passes although nothing was awaited; the dropped
    # coroutine's RuntimeWarning, turned into an error, is what catches the bug.
    write_forgotten_await_sandbox(pytester)

    result = pytester.runpytest(*SANDBOX_ARGS)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       RuntimeWarning: coroutine 'AsyncMockMixin._execute_mock_call' was never awaited",
            "E*pytest.PytestUnraisableExceptionWarning: Exception ignored in: "
            "<coroutine object AsyncMockMixin._execute_mock_call at 0x*>",
        ]
    )


def test_patching_the_definition_instead_of_the_lookup_runs_the_real_function(pytester: pytest.Pytester) -> None:
    # `from api import fetch_page` copies the name into service; patching it in
    # api afterwards does not touch service's copy. Patch where it is looked up.
    pytester.makeini(SANDBOX_CONFIG)
    pytester.makepyfile(
        api="""
        async def fetch_page(cursor):
            raise RuntimeError("the real API was called")
        """,
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
    result = pytester.runpytest(*SANDBOX_ARGS)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["E       RuntimeError: the real API was called", "*1 failed, 1 passed*"])
