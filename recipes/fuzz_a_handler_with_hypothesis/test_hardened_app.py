"""Fuzz an aiohttp app with hypothesis: generated paths, bodies, headers and frames, checked against invariants."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from .hardened_app import NOTES, create_app

# Bounded and reproducible: 50 examples a property, the same ones every run, no per-example deadline,
# no explain phase (on a failure it replays examples under a line tracer: seconds for a server test).
FUZZ = settings(max_examples=50, derandomize=True, deadline=None, phases=[Phase.explicit, Phase.generate, Phase.shrink])

segments = st.one_of(
    st.integers(4000, 5000).map(lambda digits: "9" * digits),  # either side of int()'s 4300-digit limit
    st.integers().map(str),  # ids with no note, and -1 and 0
    st.text(st.characters(categories=["Nd"]), min_size=1),  # digits of every script: ٣, ३, ๓ ...
    st.text(st.characters(exclude_categories=["Cs"])),  # any text a URL can carry (no lone surrogate)
)


@FUZZ
@given(segment=segments)
@example(segment="1")  # the one path that finds the note: too rare to leave to chance
@pytest.mark.asyncio
async def test_a_note_is_served_at_its_own_id_and_nowhere_else(segment: str) -> None:
    async with served() as client:  # a fresh app for every example
        client.app[NOTES][1] = "first"
        async with client.get("/notes/" + quote(segment, safe="")) as response:
            answer = strict_json(await response.text())

    if segment == "1":
        assert (response.status, answer) == (200, {"id": 1, "title": "first"})
    else:
        assert (response.status, answer) == (404, {"error": "Not Found"})


text = st.text(st.characters() | st.characters(categories=["Cs"]))  # lone surrogates ("\ud800"), often
bodies = (
    st.one_of(
        # json.dumps writes a lone surrogate as an escape, and NaN or Infinity as such: not JSON.
        st.fixed_dictionaries({"title": text}, optional={"rating": st.floats()}).map(json.dumps),
        st.integers(0, 50_000).map(lambda depth: "[" * depth + "]" * depth),  # past the recursion limit
    ).map(str.encode)
    | st.binary()
)
UTF8 = ["application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8", "text/plain"]
charsets = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1).map("application/json; charset={}".format)
REFUSALS = {400: "the body is not plain JSON", 415: "send JSON encoded as UTF-8", 422: "a note needs a non-blank title"}


@FUZZ
@given(body=bodies, content_type=st.sampled_from(UTF8) | charsets)
@example(body=b'{"title": "\\ud800"}', content_type="text/plain")  # a lone surrogate: valid JSON, not text
@example(body=b'{"title": "t", "rating": NaN}', content_type="application/json")
@pytest.mark.asyncio
async def test_a_post_is_answered_in_json_and_a_refused_one_changes_nothing(body: bytes, content_type: str) -> None:
    headers = {"Content-Type": content_type}
    async with served() as client, client.post("/notes", data=body, headers=headers) as response:
        answer = strict_json(await response.text())

    if response.status == 201:  # stored: only plain JSON with a title, sent as UTF-8
        title = strict_json(body.decode())["title"]
        assert (content_type in UTF8, answer, client.app[NOTES]) == (True, {"id": 1, "title": title}, {1: title})
    else:
        assert (answer, client.app[NOTES]) == ({"error": REFUSALS[response.status]}, {})


@FUZZ
@given(title=st.text(st.characters(exclude_categories=["Cs"])).filter(str.strip), content_type=st.sampled_from(UTF8))
@pytest.mark.asyncio
async def test_a_note_with_a_title_is_stored_and_served_back(title: str, content_type: str) -> None:
    # The invariants alone would pass an app that refuses everything: plain input must get through.
    async with served() as client:
        body, headers = json.dumps({"title": title}), {"Content-Type": content_type}
        async with client.post("/notes", data=body, headers=headers) as created, client.get("/notes/1") as fetched:
            assert (created.status, await fetched.json()) == (201, {"id": 1, "title": title})


# Like a fuzzer's dictionary: tokens known to hurt, mixed with whatever numbers hypothesis makes up.
TOKENS = ["NaN", "Infinity", "-Infinity", "1e308", "1e999", "true", "9" * 309, "9" * 4300, "[" * 50_000]
numbers = st.sampled_from(TOKENS) | st.integers().map(str) | st.floats().map(json.dumps)
commands = st.lists(numbers, max_size=3).map(lambda values: '{"sum": [' + ", ".join(values) + "]}")
frames = st.one_of(
    commands.map(lambda command: (WSMsgType.TEXT, command.encode())),
    st.tuples(st.sampled_from([WSMsgType.TEXT, WSMsgType.BINARY]), st.binary()),  # not UTF-8, or not text
)
SOCKET_REFUSAL = {"error": 'send {"sum": [numbers]}'}


@FUZZ
@given(sent=st.lists(frames, min_size=1, max_size=3))
@example(sent=[(WSMsgType.TEXT, b'{"sum": [1e308, 1e308]}')])  # finite numbers, an infinite sum
@example(sent=[(WSMsgType.TEXT, b'{"sum": [0.5, 1' + b"0" * 400 + b"]}")])  # a float plus 10**400: OverflowError
@pytest.mark.asyncio
async def test_every_frame_gets_a_json_reply_or_a_defined_close_code(sent: list[tuple[WSMsgType, bytes]]) -> None:
    async with served() as client, client.ws_connect("/ws") as ws:
        for opcode, payload in sent:
            await ws.send_frame(payload, opcode)  # any bytes, as a text frame too
            if (message := await ws.receive(timeout=2.0)).type is not WSMsgType.TEXT:
                break
            reply = strict_json(message.data)
            assert reply == SOCKET_REFUSAL or reply == {"sum": sum(json.loads(payload)["sum"])}

    # 1003: a binary frame; 1007: a text frame that is not UTF-8. Never 1006, a dropped connection.
    closes = {(WSMsgType.CLOSE, 1003, "text frames only"), (WSMsgType.CLOSE, 1007, "")}
    assert message.type is WSMsgType.TEXT or (message.type, message.data, message.extra) in closes


@FUZZ
@given(values=st.lists(st.integers() | st.floats(-1e300, 1e300)))
@pytest.mark.asyncio
async def test_plain_numbers_get_their_sum(values: list[float]) -> None:
    async with served() as client, client.ws_connect("/ws") as ws:
        await ws.send_json({"sum": values})
        assert await ws.receive_json(timeout=2.0) == {"sum": sum(values)}


def strict_json(text: str) -> Any:
    """Decode an answer as a strict client would: JSON with no NaN, no Infinity and no lone surrogate."""
    data = json.loads(text)
    json.dumps(data, allow_nan=False, ensure_ascii=False).encode()  # raises on any of the three
    return data


@asynccontextmanager
async def served() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """A fresh app and client for each example (``aiohttp_client``, a function-scoped fixture, would be
    shared by all of them: hypothesis refuses it); a handler's exception fails the test with its traceback."""
    app, crashes = create_app(), list[Exception]()

    @web.middleware
    async def record_crashes(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:  # what aiohttp would log, answering 500 or dropping the socket
            crashes.append(exc)
            raise

    app.middlewares.insert(0, record_crashes)  # outermost: it sees what the app's own middlewares let through
    try:
        async with TestClient(TestServer(app)) as client:
            yield client
    finally:
        if crashes:
            raise crashes[0] from None  # the cause, rather than the 500 or the 1006 the client saw
