"""Drive a Starlette app through httpx's ASGITransport, its lifespan run by asgi-lifespan: a fresh app per test."""

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from .notes_api import SCHEMA, create_app

pytestmark = pytest.mark.asyncio


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


async def test_state_lives_on_app_state_for_the_apps_lifetime(client: httpx.AsyncClient, app: Starlette) -> None:
    await client.post("/notes", json={"title": "kept"})

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
