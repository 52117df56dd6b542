"""Drive a Starlette app through httpx's ASGITransport, its lifespan run by asgi-lifespan: a fresh app per test."""

from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from .notes_api import SCHEMA, create_app

pytestmark = pytest.mark.asyncio
LIMIT = 64 * 1024  # the app's MAX_BODY, written out: a changed limit fails the boundary tests
# The reason phrase: "Request Entity Too Large" up to Python 3.12, "Content Too Large" from 3.13.
TOO_LARGE = {"error": HTTPStatus.REQUEST_ENTITY_TOO_LARGE.phrase}


@pytest.fixture
def app(postgres_dsn: str) -> Starlette:
    return create_app(postgres_dsn)  # a fresh app per test; nothing connects before its lifespan starts


@pytest_asyncio.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    # ASGITransport sends requests only, never the lifespan: LifespanManager runs startup here and
    # shutdown at teardown. manager.app, not app: it hands each request the lifespan's state.
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as client,
    ):
        await app.state.pool.execute("TRUNCATE asgi_notes RESTART IDENTITY")  # every test starts empty
        yield client


async def test_created_note_is_201_with_a_location_that_serves_it(client: httpx.AsyncClient) -> None:
    response = await client.post("/notes", json={"title": " Buy milk ", "body": "semi-skimmed"})
    assert response.status_code == 201
    created = response.json()
    assert created == {"id": 1, "title": "Buy milk", "body": "semi-skimmed"}

    response = await client.get(response.headers["Location"])
    assert response.status_code == 200
    assert response.json() == created


async def test_the_lifespan_opens_the_pool_at_startup_and_closes_it_at_shutdown(app: Starlette) -> None:
    assert not hasattr(app.state, "pool")  # building the app opened nothing
    async with LifespanManager(app):
        pool: asyncpg.Pool = app.state.pool
        assert not pool.is_closing()
        assert await pool.fetchval("SELECT to_regclass('asgi_notes')::text") == "asgi_notes"  # startup made it

    assert pool.is_closing()  # shutdown ran when the manager exited


# Cut off, nested too deep, not UTF-8, NaN (Python's json reads it; JSON has no NaN), a lone surrogate.
@pytest.mark.parametrize("raw", [b'{"title": ', b"[" * 50_000, b"\xff", b'{"title": NaN}', b'{"title": "\\ud800"}'])
async def test_malformed_json_is_400_with_a_json_error(client: httpx.AsyncClient, app: Starlette, raw: bytes) -> None:
    response = await client.post("/notes", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": "request body is not valid JSON"}
    assert await app.state.pool.fetchval("SELECT count(*) FROM asgi_notes") == 0


async def test_a_created_note_is_a_row_in_the_lifespans_pool(client: httpx.AsyncClient, app: Starlette) -> None:
    assert (await client.post("/notes", json={"title": "kept"})).status_code == 201

    pool: asyncpg.Pool = app.state.pool  # the pool the lifespan opened; app.state is untyped, so say what it is
    assert [dict(row) for row in await pool.fetch("SELECT * FROM asgi_notes")] == [
        {"id": 1, "title": "kept", "body": ""}
    ]


@pytest.mark.parametrize("run", ["first", "second"])
async def test_every_test_gets_a_fresh_app(client: httpx.AsyncClient, run: str) -> None:
    # Whichever runs second would see the first one's note if the app or its table were shared.
    assert (await client.get("/notes")).json() == []
    response = await client.post("/notes", json={"title": run})
    assert response.json() == {"id": 1, "title": run, "body": ""}


async def test_notes_are_listed_oldest_first(client: httpx.AsyncClient) -> None:
    for title in ("first", "second"):
        await client.post("/notes", json={"title": title, "body": title.upper()})

    response = await client.get("/notes")
    assert response.json() == [
        {"id": 1, "title": "first", "body": "FIRST"},
        {"id": 2, "title": "second", "body": "SECOND"},
    ]


@pytest.mark.parametrize(
    "payload",
    [["a list"], {}, {"title": "  "}, {"title": 7}, {"title": "ok", "body": 7}, {"body": "no title"}, {"title": "\0"}],
)
async def test_a_note_without_a_title_or_with_a_non_text_body_is_422(
    client: httpx.AsyncClient, app: Starlette, payload: Any
) -> None:
    response = await client.post("/notes", json=payload)
    assert response.status_code == 422
    assert response.json() == {"error": "a note needs a non-blank title and a text body"}
    assert await app.state.pool.fetchval("SELECT count(*) FROM asgi_notes") == 0


def note_of(size: int) -> bytes:  # a note's JSON, exactly size bytes long
    head, tail = b'{"title": "big", "body": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def test_a_body_of_the_limit_passes_and_one_byte_more_is_413(client: httpx.AsyncClient, app: Starlette) -> None:
    assert (await client.post("/notes", content=note_of(LIMIT))).status_code == 201
    response = await client.post("/notes", content=note_of(LIMIT + 1))
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert await app.state.pool.fetchval("SELECT count(*) FROM asgi_notes") == 1


async def test_a_content_length_over_the_limit_is_413_before_the_body_is_read(client: httpx.AsyncClient) -> None:
    headers = {"Content-Length": str(LIMIT + 1)}  # over a small body: refused by the header alone
    response = await client.post("/notes", content=b'{"title": "small"}', headers=headers)
    assert (response.status_code, response.json()) == (413, TOO_LARGE)


# No Content-Length: an async iterable goes chunked; or one that is not a number, which only an in-process
# transport lets through (a server's HTTP parser answers it with a 400).
@pytest.mark.parametrize("headers", [{}, {"Content-Length": "lots"}], ids=["chunked", "not-a-number"])
async def test_a_body_without_a_usable_length_is_413_as_it_arrives(
    client: httpx.AsyncClient, app: Starlette, headers: dict[str, str]
) -> None:
    async def chunks(body: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = await client.post("/notes", content=chunks(note_of(LIMIT + 1)), headers=headers)
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert await app.state.pool.fetchval("SELECT count(*) FROM asgi_notes") == 0


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/nothing-here", "Not Found"),
        ("/notes/abc", "no note with id abc"),
        ("/notes/7", "no note with id 7"),
        ("/notes/%D9%A3", "no note with id \u0663"),  # an Arabic-Indic 3: int() would read it as 3
        ("/notes/" + "9" * 19, "no note with id " + "9" * 19),  # past bigint: asyncpg would raise, a 500
        ("/notes/" + "9" * 5000, "no note with id " + "9" * 5000),  # int() refuses more than 4300 digits
    ],
)
async def test_unknown_route_or_note_is_404_as_json(client: httpx.AsyncClient, path: str, error: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": error}


async def test_wrong_method_is_405_with_the_allowed_methods(client: httpx.AsyncClient) -> None:
    response = await client.delete("/notes")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"error": "Method Not Allowed"}


async def test_a_pool_the_test_opened_can_stand_in_for_the_lifespans(postgres_dsn: str) -> None:
    # Everything here runs on the test's loop, so the app may use the test's own pool. No lifespan:
    # the test sets app.state itself (the sync TestClient would fail here, see test_pitfalls.py).
    async with asyncpg.create_pool(postgres_dsn, min_size=1, max_size=1) as pool:
        await pool.execute(SCHEMA)
        app = create_app("postgresql://never-used")
        app.state.pool = pool
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            response = await client.post("/notes", json={"title": "from the test's pool"})
        assert response.status_code == 201
        assert await pool.fetchval("SELECT title FROM asgi_notes WHERE id = $1", response.json()["id"]) == (
            "from the test's pool"
        )
