"""Async generators: read fully, stop early with aclosing, aclose(), errors mid-stream, a real HTTP stream."""

import asyncio
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from .ndjson_stream import RecordError, fetch_records, read_records

RECORDS = [{"id": 1, "name": "café"}, {"id": 2, "tags": ["a", "b"]}, {"id": 3, "nested": {"ok": True}}]
DOCUMENT = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in RECORDS)


@dataclass
class Source:
    """A chunked byte source (an async generator) that counts the chunks it served and its closes."""

    chunks: list[bytes]
    served: int = 0
    closes: int = 0
    closed_by: asyncio.Task[object] | None = None

    async def stream(self) -> AsyncGenerator[bytes, None]:
        try:
            for chunk in self.chunks:
                self.served += 1
                yield chunk
        finally:
            self.closes += 1
            self.closed_by = asyncio.current_task()


@pytest.mark.asyncio
async def test_breaking_out_inside_aclosing_runs_the_cleanup_at_once() -> None:
    source = Source([DOCUMENT[:30], DOCUMENT[30:60], DOCUMENT[60:]])

    async with aclosing(read_records(source.stream())) as records:
        async for record in records:
            assert record == RECORDS[0]
            break
        assert source.closes == 0  # still open inside the block

    assert source.closes == 1  # closed when the block ended: no sleep, no waiting
    assert source.closed_by is asyncio.current_task()
    assert source.served < len(source.chunks)  # the rest was never read


@pytest.mark.asyncio
async def test_after_aclose_the_generator_is_finished_and_cleanup_ran_once() -> None:
    source = Source([b'{"id": 1}\n{"id"', b": 2}\n", b'{"id": 3}\n'])
    records = read_records(source.stream())
    assert await anext(records) == {"id": 1}
    assert source.served == 1  # a record comes as soon as its line is complete

    await records.aclose()

    assert source.closes == 1
    with pytest.raises(StopAsyncIteration):
        await anext(records)
    await records.aclose()  # closing again is a no-op
    assert source.closes == 1


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (b'{"id": 3,\n{"id": 4}\n', r"^line 3: not valid JSON \(Expecting property name"),
        (b"[3]", r"^line 3: expected a JSON object, got list$"),  # the last line, without a newline
    ],
)
@pytest.mark.asyncio
async def test_a_bad_record_raises_with_its_line_number_after_the_good_ones(tail: bytes, message: str) -> None:
    source = Source([b'{"id": 1}\r\n\n', tail])  # line 2 is blank: it still counts
    async with aclosing(read_records(source.stream())) as records:
        assert await anext(records) == {"id": 1}
        with pytest.raises(RecordError, match=message) as excinfo:
            await anext(records)
        assert source.closes == 1  # the error went through the finally block, before aclosing's exit

    assert excinfo.value.line == 3


@pytest.mark.asyncio
async def test_every_record_is_read_wherever_the_chunks_split_them() -> None:
    # Every split point, also between the two bytes of "é" (lines are decoded whole); no final newline.
    document = DOCUMENT.removesuffix(b"\n")
    for cut in range(len(document) + 1):
        source = Source([document[:cut], document[cut:]])
        async with aclosing(read_records(source.stream())) as records:
            assert [record async for record in records] == RECORDS, f"split at byte {cut}"


@dataclass
class Feed:
    """A real HTTP stream: an NDJSON endpoint on loopback that sends awkward pieces, and ends when the client leaves."""

    url: str = field(init=False)
    session: aiohttp.ClientSession = field(init=False)
    done: asyncio.Event = field(default_factory=asyncio.Event)  # set when the handler has ended

    async def handler(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        try:
            for cut in range(0, len(DOCUMENT), 7):
                await response.write(DOCUMENT[cut : cut + 7])
                await asyncio.sleep(0)  # let each piece go out on its own
            if "live" in request.query:  # a live feed stays open until the client goes away
                await asyncio.Event().wait()
            return response
        finally:
            self.done.set()


@pytest_asyncio.fixture
async def feed(aiohttp_client: AiohttpClient) -> Feed:
    app, state = web.Application(), Feed()
    app.router.add_get("/records", state.handler)
    client = await aiohttp_client(app)  # a server on loopback, and a ClientSession closed after the test
    state.url, state.session = str(client.make_url("/records")), client.session
    return state


@pytest.mark.asyncio
async def test_a_chunked_http_response_is_parsed_record_by_record(feed: Feed) -> None:
    async with aclosing(fetch_records(feed.session, feed.url)) as records:
        assert [record async for record in records] == RECORDS


@pytest.mark.asyncio
async def test_leaving_a_live_http_stream_early_closes_the_connection(feed: Feed) -> None:
    async with aclosing(fetch_records(feed.session, feed.url + "?live")) as records:
        assert [await anext(records), await anext(records)] == RECORDS[:2]

    async with asyncio.timeout(2):  # the handler ends when the test server cancels it: its client left
        await feed.done.wait()


@pytest.mark.asyncio
async def test_an_error_status_raises_before_any_record(feed: Feed) -> None:
    records = fetch_records(feed.session, feed.url + "/missing")  # the error ends the generator: no aclosing needed
    with pytest.raises(aiohttp.ClientResponseError, match=r"^404, message='Not Found'"):
        await anext(records)
