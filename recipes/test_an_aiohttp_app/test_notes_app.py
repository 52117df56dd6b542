"""Drive an aiohttp app through pytest-aiohttp's ``aiohttp_client``: real requests, a fresh app per test."""

from http import HTTPStatus
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from .notes_app import NOTES, Note, create_app

Client = TestClient[web.Request, web.Application]
LIMIT = 64 * 1024  # the app's client_max_size


@pytest_asyncio.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(create_app())  # a fresh app, so a fresh store, per test


@pytest.mark.asyncio
async def test_created_note_is_201_with_a_location_that_serves_it(client: Client) -> None:
    async with client.post("/notes", json={"title": " Buy milk ", "body": "semi-skimmed"}) as response:
        assert response.status == 201
        created = await response.json()
        assert created == {"id": 1, "title": "Buy milk", "body": "semi-skimmed"}

    async with client.get(response.headers["Location"]) as response:
        assert response.status == 200
        assert await response.json() == created


# Cut off, nested too deep, not UTF-8, NaN (Python's json reads it; JSON has no NaN), a lone surrogate.
@pytest.mark.parametrize("raw", [b'{"title": ', b"[" * 50_000, b"\xff", b'{"title": NaN}', b'{"title": "\\ud800"}'])
@pytest.mark.asyncio
async def test_malformed_json_is_400_with_a_json_error(client: Client, raw: bytes) -> None:
    async with client.post("/notes", data=raw, headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400
        assert await response.json() == {"error": "request body is not valid JSON"}
    assert client.app[NOTES].notes == {}


@pytest.mark.asyncio
async def test_state_lives_on_the_app_under_its_app_key(client: Client) -> None:
    async with client.post("/notes", json={"title": "kept"}):
        pass

    store = client.app[NOTES]  # typed NoteStore through web.AppKey: no cast, mypy checks it
    assert store.notes == {1: Note(1, "kept", "")}


@pytest.mark.parametrize("run", ["first", "second"])
@pytest.mark.asyncio
async def test_every_test_gets_a_fresh_app(client: Client, run: str) -> None:
    # Whichever runs second would see the first one's note if the app were shared.
    async with client.get("/notes") as response:
        assert await response.json() == []
    async with client.post("/notes", json={"title": run}) as response:
        assert await response.json() == {"id": 1, "title": run, "body": ""}


@pytest.mark.asyncio
async def test_notes_are_listed_oldest_first(client: Client) -> None:
    for title in ("first", "second"):
        async with client.post("/notes", json={"title": title, "body": title.upper()}):
            pass

    async with client.get("/notes") as response:
        assert await response.json() == [
            {"id": 1, "title": "first", "body": "FIRST"},
            {"id": 2, "title": "second", "body": "SECOND"},
        ]


@pytest.mark.parametrize(
    "payload", [["a list"], {}, {"title": "  "}, {"title": 7}, {"title": "ok", "body": 7}, {"body": "no title"}]
)
@pytest.mark.asyncio
async def test_a_note_without_a_title_or_with_a_non_text_body_is_422(client: Client, payload: Any) -> None:
    async with client.post("/notes", json=payload) as response:
        assert response.status == 422
        assert await response.json() == {"error": "a note needs a non-blank title and a text body"}
    assert client.app[NOTES].notes == {}


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/nothing-here", "Not Found"),
        ("/notes/abc", "Not Found"),
        ("/notes/7", "no note with id 7"),
        ("/notes/%D9%A3", "Not Found"),  # an Arabic-Indic 3: \d matches it, and int() reads it as 3
        ("/notes/" + "9" * 5000, "Not Found"),  # int() refuses more than 4300 digits: a 500 once
    ],
)
@pytest.mark.asyncio
async def test_unknown_route_is_404_as_json(client: Client, path: str, error: str) -> None:
    async with client.get(path) as response:
        assert response.status == 404
        assert await response.json() == {"error": error}


@pytest.mark.asyncio
async def test_a_charset_other_than_utf_8_is_415(client: Client) -> None:
    headers = {"Content-Type": "application/json; charset=no-such-charset"}  # request.json(): LookupError
    async with client.post("/notes", data=b'{"title": "x"}', headers=headers) as response:
        assert response.status == 415
        assert await response.json() == {"error": "send the note as UTF-8 JSON"}
    assert client.app[NOTES].notes == {}


@pytest.mark.asyncio
async def test_body_over_the_size_limit_is_413(client: Client) -> None:
    async with client.post("/notes", json={"title": "big", "body": "x" * LIMIT}) as response:
        assert response.status == 413
        # The reason phrase: "Request Entity Too Large" up to Python 3.12, "Content Too Large" from 3.13.
        assert await response.json() == {"error": HTTPStatus.REQUEST_ENTITY_TOO_LARGE.phrase}
    assert client.app[NOTES].notes == {}


@pytest.mark.asyncio
async def test_wrong_method_is_405_with_the_allowed_methods(client: Client) -> None:
    async with client.delete("/notes") as response:
        assert response.status == 405
        assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}
        assert response.content_type == "application/json"
        assert await response.json() == {"error": "Method Not Allowed"}
