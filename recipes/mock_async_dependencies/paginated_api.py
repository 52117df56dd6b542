"""A client for a paginated JSON API: one request per page, following the cursor.

``GET {base_url}/items?limit=N[&cursor=C]`` answers with one page::

    {"items": ["a", "b"], "next": "opaque-cursor"}

and ``"next": null`` on the last page. ``fetch_all_items`` looks ``fetch_page``
up in this module at every call, so tests patch it here.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from yarl import URL

PAGE_SIZE = 100


class PaginationError(Exception):
    """The listing did not end within the page limit."""


@dataclass(frozen=True)
class Page:
    items: tuple[str, ...]
    next_cursor: str | None


async def fetch_page(session: aiohttp.ClientSession, base_url: str, cursor: str | None) -> Page:
    """Fetch one page; an HTTP error status raises ``aiohttp.ClientResponseError``."""
    params = {"limit": str(PAGE_SIZE)}
    if cursor is not None:
        params["cursor"] = cursor
    async with session.get(URL(base_url) / "items", params=params) as response:
        response.raise_for_status()
        body = await response.json()
    return Page(tuple(body["items"]), body["next"])


async def fetch_all_items(session: aiohttp.ClientSession, base_url: str, *, max_pages: int = 1000) -> list[str]:
    """Follow the cursor from the first page to the last; return every item in order."""
    items: list[str] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page = await fetch_page(session, base_url, cursor)
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
    raise PaginationError(f"gave up after {max_pages} pages: the listing did not end")
