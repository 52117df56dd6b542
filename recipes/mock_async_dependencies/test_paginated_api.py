"""Mock the async function a client depends on, and check how it was awaited."""

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
    # Real, so the tests see it passed through untouched; with fetch_page mocked it sends nothing.
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def fetch_page(mocker: MockerFixture) -> AsyncMock:
    # Patch the module object the client looks the name up in: no "package.module.name"
    # string to break when the folder is copied, and no new_callable=AsyncMock needed.
    mock = mocker.patch.object(paginated_api, "fetch_page")
    assert isinstance(mock, AsyncMock)  # patching an `async def` gives an AsyncMock
    return mock


@pytest.mark.asyncio
async def test_a_single_page_is_fetched_once_from_the_start(
    fetch_page: AsyncMock, session: aiohttp.ClientSession
) -> None:
    fetch_page.return_value = Page(("a", "b"), None)  # what `await fetch_page(...)` gives

    assert await fetch_all_items(session, BASE_URL) == ["a", "b"]
    fetch_page.assert_awaited_once_with(session, BASE_URL, None)


@pytest.mark.asyncio
async def test_each_page_is_requested_with_the_previous_pages_cursor(
    fetch_page: AsyncMock, session: aiohttp.ClientSession
) -> None:
    fetch_page.side_effect = [Page(("a",), "c1"), Page((), "c2"), Page(("b", "c"), None)]  # one per await

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

    assert excinfo.value is reset  # an exception in side_effect is raised on its await
    assert fetch_page.await_count == 3  # the page after the error was never requested


@pytest.mark.asyncio
async def test_patching_an_async_function_gives_an_async_mock(mocker: MockerFixture) -> None:
    mock = mocker.patch.object(paginated_api, "fetch_page")  # no new_callable=AsyncMock

    assert isinstance(mock, AsyncMock)
    assert paginated_api.fetch_page is mock


@pytest.mark.asyncio
@pytest.mark.parametrize(("limit", "max_pages"), [({"max_pages": 3}, 3), ({}, 1000)], ids=["3", "default"])
async def test_a_listing_that_never_ends_is_cut_off_at_max_pages(
    fetch_page: AsyncMock, session: aiohttp.ClientSession, limit: dict[str, int], max_pages: int
) -> None:
    # A callable side_effect computes each page from the call's own arguments.
    def endless(_session: aiohttp.ClientSession, _base_url: str, cursor: str | None) -> Page:
        number = 0 if cursor is None else int(cursor)
        return Page((f"item-{number}",), str(number + 1))

    fetch_page.side_effect = endless

    with pytest.raises(PaginationError, match=f"^gave up after {max_pages} pages: the listing did not end$"):
        await fetch_all_items(session, BASE_URL, **limit)
    assert fetch_page.await_count == max_pages


@pytest.mark.asyncio
async def test_autospec_rejects_a_call_that_does_not_fit_the_real_signature(
    mocker: MockerFixture, session: aiohttp.ClientSession
) -> None:
    strict: Any = mocker.patch.object(paginated_api, "fetch_page", autospec=True)

    # A plain mock would accept this call that forgot base_url; autospec checks the real signature.
    with pytest.raises(TypeError, match=r"^missing a required argument: 'base_url'$"):
        await paginated_api.fetch_page(session, cursor=None)  # type: ignore[call-arg]  # mypy sees it too

    # Right calls still work, and assertions compare by signature: keywords match positionals.
    strict.return_value = Page(("a",), None)
    assert await fetch_all_items(session, BASE_URL) == ["a"]
    strict.assert_awaited_once_with(session, base_url=BASE_URL, cursor=None)


@pytest_asyncio.fixture
async def api(aiohttp_server: AiohttpServer) -> tuple[str, list[dict[str, str]]]:
    """The one function that talks HTTP is tested for real, against a local stand-in for the API."""
    pages = {None: {"items": ["a", "b"], "next": "p2"}, "p2": {"items": ["c"], "next": None}}
    queries: list[dict[str, str]] = []

    async def items(request: web.Request) -> web.Response:
        queries.append(dict(request.query))
        cursor = request.query.get("cursor")
        if cursor == "down":
            return web.json_response({"error": "maintenance"}, status=503)
        return web.json_response(pages[cursor])

    app = web.Application()
    app.router.add_get("/v1/items", items)
    server = await aiohttp_server(app)
    return str(server.make_url("/v1")), queries


@pytest.mark.asyncio
async def test_all_items_are_listed_from_a_real_server(
    api: tuple[str, list[dict[str, str]]], session: aiohttp.ClientSession
) -> None:
    base_url, queries = api

    assert await fetch_all_items(session, base_url) == ["a", "b", "c"]
    assert queries == [{"limit": str(PAGE_SIZE)}, {"limit": str(PAGE_SIZE), "cursor": "p2"}]


@pytest.mark.asyncio
async def test_an_http_error_status_raises_client_response_error(
    api: tuple[str, list[dict[str, str]]], session: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.ClientResponseError) as excinfo:
        await paginated_api.fetch_page(session, api[0], "down")
    assert excinfo.value.status == 503
