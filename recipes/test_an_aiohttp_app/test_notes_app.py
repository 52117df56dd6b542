"""Drive an aiohttp app through pytest-aiohttp's ``aiohttp_client``: statuses, JSON bodies, headers."""

from http import HTTPStatus
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from .notes_app import MAX_BODY_LENGTH, MAX_TITLE_LENGTH, NOTES, create_app

Client = TestClient[web.Request, web.Application]
REQUEST_LIMIT = 4096  # small, so an oversized body is cheap to send


@pytest_asyncio.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    """A fresh app (and so a fresh, empty store) served on loopback for each test."""
    return await aiohttp_client(create_app(max_request_bytes=REQUEST_LIMIT))


async def post_note(client: Client, payload: Any) -> tuple[int, Any]:
    async with client.post("/notes", json=payload) as response:
        return response.status, await response.json()


@pytest.mark.asyncio
async def test_index_answers_json(client: Client) -> None:
    async with client.get("/") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == {"service": "notes", "notes": "/notes"}


@pytest.mark.asyncio
async def test_created_note_is_201_with_a_location_that_serves_it(client: Client) -> None:
    async with client.post("/notes", json={"title": "  Buy milk ", "body": "semi-skimmed"}) as response:
        assert response.status == 201
        created = await response.json()
        location = response.headers["Location"]

    assert created == {"id": 1, "title": "Buy milk", "body": "semi-skimmed"}
    assert location == "/notes/1"
    async with client.get(location) as response:
        assert response.status == 200
        assert await response.json() == created


@pytest.mark.asyncio
async def test_body_is_optional_and_notes_are_listed_oldest_first(client: Client) -> None:
    await post_note(client, {"title": "first"})
    await post_note(client, {"title": "second", "body": "more"})

    async with client.get("/notes") as response:
        assert await response.json() == {
            "notes": [{"id": 1, "title": "first", "body": ""}, {"id": 2, "title": "second", "body": "more"}]
        }


@pytest.mark.asyncio
async def test_state_lives_on_the_app_under_its_app_key(client: Client) -> None:
    await post_note(client, {"title": "kept"})

    store = client.app[NOTES]  # typed NoteStore, no cast needed
    assert [note.title for note in store.all()] == ["kept"]


@pytest.mark.parametrize("run", ["first", "second"])
@pytest.mark.asyncio
async def test_every_test_gets_a_fresh_app(client: Client, run: str) -> None:
    # Whichever runs second would see the first one's note if the app were shared.
    async with client.get("/notes") as response:
        assert await response.json() == {"notes": []}
    assert await post_note(client, {"title": run}) == (201, {"id": 1, "title": run, "body": ""})


@pytest.mark.asyncio
async def test_malformed_json_is_400_with_a_json_error(client: Client) -> None:
    async with client.post("/notes", data=b'{"title": ', headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400
        assert await response.json() == {"error": "request body is not valid JSON"}
    assert client.app[NOTES].all() == []


@pytest.mark.asyncio
async def test_a_body_that_is_not_declared_json_is_415(client: Client) -> None:
    async with client.post("/notes", data="title=plain") as response:
        assert response.status == 415
        assert (await response.json())["error"].startswith("expected Content-Type application/json")


@pytest.mark.parametrize("raw", [b'["a", "list"]', b'"a string"', b"null", b"42"])
@pytest.mark.asyncio
async def test_json_that_is_not_an_object_is_422(client: Client, raw: bytes) -> None:
    async with client.post("/notes", data=raw, headers={"Content-Type": "application/json"}) as response:
        assert response.status == 422
        assert await response.json() == {"error": "expected a JSON object with the note's fields"}


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"title": "required, a non-blank string"}),
        ({"title": "   "}, {"title": "required, a non-blank string"}),
        ({"title": 42}, {"title": "required, a non-blank string"}),
        ({"title": "x" * (MAX_TITLE_LENGTH + 1)}, {"title": f"at most {MAX_TITLE_LENGTH} characters"}),
        ({"title": "ok", "body": ["not", "text"]}, {"body": "must be a string"}),
        ({"title": "ok", "body": "x" * (MAX_BODY_LENGTH + 1)}, {"body": f"at most {MAX_BODY_LENGTH} characters"}),
        ({"title": "ok", "colour": "red"}, {"colour": "unknown field"}),
        (
            {"body": 1, "tags": []},
            {"title": "required, a non-blank string", "body": "must be a string", "tags": "unknown field"},
        ),
    ],
)
@pytest.mark.asyncio
async def test_invalid_fields_are_422_naming_each_field(client: Client, payload: Any, fields: dict[str, str]) -> None:
    status, body = await post_note(client, payload)

    assert (status, body) == (422, {"error": "invalid note", "fields": fields})
    assert client.app[NOTES].all() == []


@pytest.mark.asyncio
async def test_longest_allowed_title_and_body_are_accepted(client: Client) -> None:
    note = {"title": "t" * MAX_TITLE_LENGTH, "body": "b" * MAX_BODY_LENGTH}
    status, body = await post_note(client, note)
    assert (status, body["title"], body["body"]) == (201, note["title"], note["body"])


@pytest.mark.parametrize("path", ["/nothing-here", "/notes/abc"])
@pytest.mark.asyncio
async def test_unknown_route_is_404_as_json(client: Client, path: str) -> None:
    async with client.get(path) as response:
        assert response.status == 404
        assert await response.json() == {"error": "Not Found"}


@pytest.mark.asyncio
async def test_unknown_note_is_404_naming_the_id(client: Client) -> None:
    async with client.get("/notes/7") as response:
        assert response.status == 404
        assert await response.json() == {"error": "no note with id 7"}


@pytest.mark.asyncio
async def test_body_over_the_size_limit_is_413(client: Client) -> None:
    oversized = {"title": "big", "body": "x" * (REQUEST_LIMIT + 1)}

    async with client.post("/notes", json=oversized) as response:
        assert response.status == 413
        # The reason phrase: "Request Entity Too Large" up to Python 3.12, "Content Too Large" from 3.13.
        assert await response.json() == {"error": HTTPStatus.REQUEST_ENTITY_TOO_LARGE.phrase}
    assert client.app[NOTES].all() == []


@pytest.mark.asyncio
async def test_wrong_method_is_405_with_the_allowed_methods(client: Client) -> None:
    async with client.delete("/notes") as response:
        assert response.status == 405
        assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}
        assert response.content_type == "application/json"
        assert await response.json() == {"error": "Method Not Allowed"}


@pytest.mark.asyncio
async def test_without_the_middleware_a_404_is_plain_text(aiohttp_client: AiohttpClient) -> None:
    # The pitfall the json_errors middleware removes: aiohttp's own errors are text/plain.
    bare = await aiohttp_client(web.Application())
    async with bare.get("/nothing-here") as response:
        assert response.status == 404
        with pytest.raises(aiohttp.ContentTypeError, match="unexpected mimetype: text/plain"):
            await response.json()


def test_a_request_limit_below_one_byte_is_refused() -> None:
    # 0 would silently mean "no limit" to aiohttp, so it is refused.
    with pytest.raises(ValueError, match=r"^max_request_bytes must be at least 1, got 0$"):
        create_app(max_request_bytes=0)


@pytest.mark.asyncio
async def test_the_smallest_limit_of_one_byte_is_accepted_and_inclusive(aiohttp_client: AiohttpClient) -> None:
    tiny = await aiohttp_client(create_app(max_request_bytes=1))
    json_headers = {"Content-Type": "application/json"}
    async with tiny.post("/notes", data=b"7", headers=json_headers) as response:
        assert response.status == 422  # 1 byte: read and parsed, then refused as not an object
    async with tiny.post("/notes", data=b"{}", headers=json_headers) as response:
        assert response.status == 413  # 2 bytes: over the limit


def test_a_plain_string_app_key_warns() -> None:
    # The pitfall: str keys still work, but aiohttp warns, and warnings are errors here.
    app = web.Application()
    with pytest.warns(web.NotAppKeyWarning, match="It is recommended to use web.AppKey instances for keys"):
        app["notes"] = []


def test_the_doc_client_fixture_is_an_error_in_strict_mode(pytester: pytest.Pytester) -> None:
    # The pitfall: an async @pytest.fixture is only handled in auto mode; strict
    # mode (the default) on pytest 9 refuses it. @pytest_asyncio.fixture works in both.
    pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import pytest
        import pytest_asyncio
        from aiohttp import web

        async def home(request):
            return web.json_response({"message": "hi"})

        @pytest.fixture
        def app():
            app = web.Application()
            app.router.add_get("/", home)
            return app

        @pytest.fixture
        async def doc_client(aiohttp_client, app):
            return await aiohttp_client(app)

        @pytest_asyncio.fixture
        async def fixed_client(aiohttp_client, app):
            return await aiohttp_client(app)

        @pytest.mark.asyncio
        async def test_doc_style(doc_client):
            assert (await doc_client.get("/")).status == 200

        @pytest.mark.asyncio
        async def test_fixed(fixed_client):
            async with fixed_client.get("/") as response:
                assert await response.json() == {"message": "hi"}
        """
    )
    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*'test_doc_style' requested an async fixture 'doc_client', with no plugin or hook that handled it."
            " This is an error, as pytest does not natively support it.",
        ]
    )
