"""A client for a paginated JSON API: one request per page, following the cursor.

``GET {base_url}/items?limit=N[&cursor=C]`` answers with one page::

    {"items": ["a", "b"], "next": "opaque-cursor"}

and ``"next": null`` on the last page. ``fetch_all_items`` looks ``fetch_page``
up in this module at every call, so tests patch it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

PAGE_SIZE = 100
MAX_PAGES = 1000


class PaginationError(Exception):
    """The API answered with pages this client cannot follow."""


@dataclass(frozen=True)
class Page:
    items: tuple[str, ...]
    next_cursor: str | None


def parse_page(body: Any) -> Page:
    """Check one decoded page against the wire format."""
    if isinstance(body, dict):
        items, next_cursor = body.get("items"), body.get("next")
        if (
            isinstance(items, list)
            and all(isinstance(item, str) for item in items)
            and (next_cursor is None or (isinstance(next_cursor, str) and next_cursor))
        ):
            return Page(tuple(items), next_cursor)
    raise PaginationError(f"malformed page: {body!r:.200}")


async def fetch_page(session: aiohttp.ClientSession, base_url: str, cursor: str | None) -> Page:
    """Fetch one page; an HTTP error status raises ``aiohttp.ClientResponseError``."""
    params = {"limit": str(PAGE_SIZE)}
    if cursor is not None:
        params["cursor"] = cursor
    async with session.get(URL(base_url) / "items", params=params) as response:
        response.raise_for_status()
        body = await response.json()
    return parse_page(body)


async def fetch_all_items(session: aiohttp.ClientSession, base_url: str, *, max_pages: int = MAX_PAGES) -> list[str]:
    """Follow the cursor from the first page to the last; return every item in order."""
    if max_pages < 1:
        raise ValueError(f"max_pages must be at least 1, got {max_pages}")
    items: list[str] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(max_pages):
        page = await fetch_page(session, base_url, cursor)
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        if page.next_cursor in seen:
            raise PaginationError(f"the API sent cursor {page.next_cursor!r} twice: refusing to loop forever")
        seen.add(page.next_cursor)
        cursor = page.next_cursor
    raise PaginationError(f"gave up after {max_pages} pages: the listing did not end")
