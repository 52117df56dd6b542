"""Async generators: full and partial consumption, aclose(), aclosing, errors mid-stream, a real HTTP stream."""

import asyncio
import json
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from .ndjson_stream import Record, RecordError, StreamError, fetch_records, read_records

WAIT = 2.0  # seconds; only reached when something is broken
RECORDS = [{"id": 1, "name": "café"}, {"id": 2, "tags": ["a", "b"]}, {"id": 3, "nested": {"ok": True}}]
DOCUMENT = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in RECORDS)


@dataclass
class Source:
    """A chunked byte source (an async generator) that records how and where it was closed."""

    chunks: list[bytes]
    served: int = 0
    closes: int = 0
    closed_by: asyncio.Task[Any] | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def stream(self) -> AsyncGenerator[bytes, None]:
        try:
            for chunk in self.chunks:
                self.served += 1
                yield chunk
        finally:
            self.closes += 1
            self.closed_by = asyncio.current_task()
            self.closed.set()


class Unclosable:
    """A source without ``aclose``, such as aiohttp's ``response.content.iter_any()``."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = iter(chunks)

    def __aiter__(self) -> "Unclosable":
        return self

    async def __anext__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None


async def collect(source: Source | Unclosable, **options: int) -> list[Record]:
    chunks = source.stream() if isinstance(source, Source) else source
    async with aclosing(read_records(chunks, **options)) as records:
        return [record async for record in records]


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- Full consumption -----------------------------------------------------------


@pytest.mark.asyncio
async def test_every_record_is_read_and_the_source_closed_once() -> None:
    source = Source([DOCUMENT])

    assert await collect(source) == RECORDS
    assert source.closes == 1


@pytest.mark.asyncio
async def test_records_are_the_same_wherever_the_chunks_split_them() -> None:
    # Every single split point, then one byte per chunk: lines and the two-byte "é" are cut everywhere.
    for cut in range(1, len(DOCUMENT)):
        assert await collect(Source([DOCUMENT[:cut], DOCUMENT[cut:]])) == RECORDS, f"split at byte {cut}"
    assert await collect(Source(split_every(DOCUMENT, 1))) == RECORDS


@pytest.mark.asyncio
async def test_blank_lines_crlf_and_a_missing_final_newline_are_accepted() -> None:
    chunks = [b'\n{"id": 1}\r\n', b"   \n", b'{"id": 2}']

    assert await collect(Source(chunks)) == [{"id": 1}, {"id": 2}]


@pytest.mark.asyncio
async def test_an_empty_stream_has_no_records() -> None:
    assert await collect(Source([])) == []
    assert await collect(Source([b"", b"\n\n"])) == []


@pytest.mark.asyncio
async def test_a_source_without_aclose_is_read_too() -> None:
    assert await collect(Unclosable(split_every(DOCUMENT, 7))) == RECORDS


@pytest.mark.asyncio
async def test_a_record_is_yielded_as_soon_as_its_line_is_complete() -> None:
    source = Source([b'{"id": 1}\n{"id"', b": 2}\n", b'{"id": 3}\n'])

    async with aclosing(read_records(source.stream())) as records:
        assert await anext(records) == {"id": 1}
        assert source.served == 1  # the second chunk has not even been asked for
        assert await anext(records) == {"id": 2}
        assert source.served == 2


# --- Stopping early ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_breaking_out_inside_aclosing_runs_the_cleanup_at_once() -> None:
    source = Source(split_every(DOCUMENT, 5))

    async with aclosing(read_records(source.stream())) as records:
        async for record in records:
            assert record == RECORDS[0]
            break
        assert source.closes == 0  # still open inside the block

    assert source.closes == 1  # closed when the block ended: no await, no waiting
    assert source.closed_by is asyncio.current_task()
    assert source.served < len(source.chunks)  # the rest was never read


@pytest.mark.asyncio
async def test_breaking_out_without_aclosing_leaves_the_cleanup_for_later_in_another_task() -> None:
    # The pitfall: the generator is only finalised when it is garbage collected;
    # asyncio then schedules its aclose() as a new task, to run some time later.
    source = Source(split_every(DOCUMENT, 5))

    async for record in read_records(source.stream()):
        assert record == RECORDS[0]
        break

    assert source.closes == 0  # nothing has cleaned up yet
    async with asyncio.timeout(WAIT):
        await source.closed.wait()
    assert source.closes == 1
    assert source.closed_by is not asyncio.current_task()  # it ran in a task the loop made up


@pytest.mark.asyncio
async def test_after_aclose_the_generator_is_finished_and_cleanup_ran_once() -> None:
    source = Source([DOCUMENT])
    records = read_records(source.stream())
    assert await anext(records) == RECORDS[0]

    await records.aclose()

    assert source.closes == 1
    with pytest.raises(StopAsyncIteration):
        await anext(records)
    await records.aclose()  # closing again is a no-op
    assert source.closes == 1


@pytest.mark.asyncio
async def test_closing_a_generator_that_never_started_runs_no_cleanup() -> None:
    # Its body, and so its `finally`, never began: the source is still the caller's to close.
    source = Source([DOCUMENT])
    chunks = source.stream()

    await read_records(chunks).aclose()

    assert source.closes == 0
    await chunks.aclose()
    assert source.served == 0


# --- Errors mid-stream ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b'{"id": 3,', r"line 3: not valid JSON \(Expecting property name"),
        (b"[1, 2]", "line 3: expected a JSON object, got list"),
        (b'"just a string"', "line 3: expected a JSON object, got str"),
        (b'{"name": "caf\xe9"}', "line 3: not valid JSON .*can't decode byte 0xe9"),
    ],
)
@pytest.mark.asyncio
async def test_a_bad_record_raises_with_its_line_number_after_the_good_ones(bad_line: bytes, message: str) -> None:
    source = Source([b'{"id": 1}\n\n', bad_line + b'\n{"id": 4}\n'])
    good: list[Record] = []

    with pytest.raises(RecordError, match=message) as excinfo:
        async with aclosing(read_records(source.stream())) as records:
            async for record in records:
                good.append(record)

    assert good == [{"id": 1}]
    assert excinfo.value.line == 3
    assert source.closes == 1  # the error went through the finally block


@pytest.mark.asyncio
async def test_a_line_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(RecordError, match="line 2: longer than 16 bytes"):
        await collect(Source([b'{"id": 1}\n', b'{"padding": "' + b"x" * 20 + b'"}\n']), max_line_bytes=16)


@pytest.mark.asyncio
async def test_an_endless_line_is_refused_before_it_is_all_buffered() -> None:
    source = Source([b'{"id": 1}\n{"a": "', *[b"x" * 10] * 100])

    with pytest.raises(RecordError, match="line 2: longer than 32 bytes"):
        await collect(source, max_line_bytes=32)

    assert source.served == 4  # gave up after 4 of the 101 chunks
    assert source.closes == 1


@pytest.mark.asyncio
async def test_a_bad_last_line_without_a_newline_is_numbered_too() -> None:
    with pytest.raises(RecordError, match=r"^line 3: expected a JSON object, got list$"):
        await collect(Source([b'{"id": 1}\n\n', b"[3]"]))


@pytest.mark.asyncio
async def test_a_line_exactly_at_the_limit_is_accepted() -> None:
    line = b'{"id": 1}'
    assert await collect(Source([line + b"\n", line]), max_line_bytes=len(line)) == [{"id": 1}] * 2


@pytest.mark.asyncio
async def test_the_smallest_limit_is_one_byte() -> None:
    # Too small for any JSON object ("{}" is 2 bytes), but a valid limit: blank lines fit.
    assert await collect(Source([b"\n", b" "]), max_line_bytes=1) == []
    with pytest.raises(RecordError, match=r"^line 1: longer than 1 bytes$"):
        await collect(Source([b"{}\n"]), max_line_bytes=1)


@pytest.mark.asyncio
async def test_a_bad_limit_fails_at_the_call_not_at_the_first_record() -> None:
    with pytest.raises(ValueError, match="max_line_bytes must be at least 1"):
        read_records(Source([]).stream(), max_line_bytes=0)

    # The same check inside an async generator's body waits for the first anext().
    async def checks_late(limit: int) -> AsyncGenerator[Record, None]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        yield {}

    records = checks_late(0)  # no error yet
    with pytest.raises(ValueError, match="limit must be at least 1"):
        await anext(records)


def test_decoding_each_chunk_breaks_on_a_character_split_between_chunks() -> None:
    # Why the reader splits bytes on newlines and decodes whole lines instead.
    cut = DOCUMENT.index("é".encode()) + 1  # between the two bytes of "é"
    with pytest.raises(UnicodeDecodeError, match=r"can.t decode byte 0xc3 in position \d+: unexpected end of data"):
        DOCUMENT[:cut].decode()


# --- A real HTTP stream ------------------------------------------------------------------


@dataclass
class Feed:
    """An NDJSON endpoint on loopback that streams in awkward chunks and notices when the client leaves."""

    url: str = ""
    handler_done: asyncio.Event = field(default_factory=asyncio.Event)
    handler_cancelled: bool = False


@pytest_asyncio.fixture
async def feed(aiohttp_server: AiohttpServer) -> Feed:
    state = Feed()

    async def stream(request: web.Request, pieces: list[bytes], then_wait: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        try:
            for piece in pieces:
                await response.write(piece)
                await asyncio.sleep(0)  # let each piece go out on its own
            if then_wait:  # a live feed: stays open until the client goes away
                await asyncio.Event().wait()
            await response.write_eof()
            return response
        except asyncio.CancelledError:
            state.handler_cancelled = True
            raise
        finally:
            state.handler_done.set()

    async def records(request: web.Request) -> web.StreamResponse:
        return await stream(request, split_every(DOCUMENT, 7), then_wait=False)

    async def live(request: web.Request) -> web.StreamResponse:
        return await stream(request, [DOCUMENT], then_wait=True)

    async def broken(request: web.Request) -> web.StreamResponse:
        return await stream(request, [b'{"id": 1}\n{"id": 2}\n{oops}\n'], then_wait=True)

    app = web.Application()
    app.router.add_get("/records", records)
    app.router.add_get("/live", live)
    app.router.add_get("/broken", broken)
    server = await aiohttp_server(app)
    state.url = str(server.make_url("/"))
    return state


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.mark.asyncio
async def test_a_chunked_http_response_is_parsed_record_by_record(feed: Feed, session: aiohttp.ClientSession) -> None:
    async with aclosing(fetch_records(session, feed.url + "records")) as records:
        received = [record async for record in records]

    assert received == RECORDS
    async with asyncio.timeout(WAIT):
        await feed.handler_done.wait()
    assert not feed.handler_cancelled


@pytest.mark.asyncio
async def test_leaving_a_live_http_stream_early_closes_the_connection(
    feed: Feed, session: aiohttp.ClientSession
) -> None:
    async with aclosing(fetch_records(session, feed.url + "live")) as records:
        first_two = [await anext(records), await anext(records)]

    assert first_two == RECORDS[:2]
    async with asyncio.timeout(WAIT):  # the server notices the client left, and stops
        await feed.handler_done.wait()
    assert feed.handler_cancelled


@pytest.mark.asyncio
async def test_a_bad_record_in_an_http_stream_names_its_line_and_drops_the_connection(
    feed: Feed, session: aiohttp.ClientSession
) -> None:
    good: list[Record] = []

    with pytest.raises(RecordError, match="line 3: not valid JSON"):
        async with aclosing(fetch_records(session, feed.url + "broken")) as records:
            async for record in records:
                good.append(record)

    assert good == [{"id": 1}, {"id": 2}]
    async with asyncio.timeout(WAIT):
        await feed.handler_done.wait()
    assert feed.handler_cancelled


@pytest.mark.asyncio
async def test_the_line_limit_applies_to_an_http_stream(feed: Feed, session: aiohttp.ClientSession) -> None:
    with pytest.raises(RecordError, match=r"^line 1: longer than 16 bytes$"):
        async with aclosing(fetch_records(session, feed.url + "records", max_line_bytes=16)) as records:
            await anext(records)


@pytest.mark.asyncio
async def test_an_error_status_is_a_stream_error(feed: Feed, session: aiohttp.ClientSession) -> None:
    with pytest.raises(StreamError, match=r"GET http://\S+/missing: HTTP 404 Not Found"):
        async with aclosing(fetch_records(session, feed.url + "missing")) as records:
            await anext(records)


# --- The pitfall in a sandbox ----------------------------------------------------------------


def test_cleanup_of_a_generator_left_by_break_is_cut_short_without_any_error(pytester: pytest.Pytester) -> None:
    # Left to the garbage collector at the end of a test, the generator is closed
    # during the event loop's teardown; before Python 3.13 its cleanup stops at its first await.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n")
    pytester.makepyfile(
        """
        import asyncio
        from contextlib import aclosing
        import pytest

        async def numbers(tag):
            try:
                for n in range(10):
                    yield n
            finally:
                print(f"{tag}: cleanup started")
                await asyncio.sleep(0)  # e.g. closing a connection
                print(f"{tag}: cleanup finished")

        @pytest.mark.asyncio
        async def test_break_without_aclosing():
            async for n in numbers("without"):
                break

        @pytest.mark.asyncio
        async def test_break_with_aclosing():
            async with aclosing(numbers("with")) as gen:
                async for n in gen:
                    break
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:hypothesispytest", "-s")

    result.assert_outcomes(passed=2)  # both pass: nothing reports the lost cleanup
    result.stdout.fnmatch_lines(["*without: cleanup started*", "*with: cleanup started*", "*with: cleanup finished*"])
    if sys.version_info < (3, 13):
        result.stdout.no_fnmatch_line("*without: cleanup finished*")  # 3.13's loop teardown lets it finish


def test_a_loop_closed_by_hand_never_runs_the_scheduled_cleanup(pytester: pytest.Pytester) -> None:
    # Outside pytest-asyncio's runner (a loop closed without shutdown_asyncgens), the
    # close that asyncio scheduled never runs, and the only trace is a message at exit.
    script = pytester.makepyfile(
        """
        import asyncio

        async def numbers():
            try:
                for n in range(10):
                    yield n
            finally:
                print("cleanup started")

        async def main():
            async for n in numbers():
                break

        loop = asyncio.new_event_loop()
        loop.run_until_complete(main())
        loop.close()
        """
    )
    result = pytester.runpython(script)

    assert result.ret == 0
    result.stdout.no_fnmatch_line("*cleanup started*")
    result.stderr.fnmatch_lines(
        [
            "Task was destroyed but it is pending!",
            "task: <Task pending name=* coro=<<async_generator_athrow without __name__>()>>",
        ]
    )
