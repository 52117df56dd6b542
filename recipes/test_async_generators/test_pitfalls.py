"""Async generator mistakes: cleanup that runs late, elsewhere, cut short or never, and errors that come late."""

import asyncio
import sys
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import pytest

from .ndjson_stream import Record, read_records

pytest_plugins = ["pytester"]

# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
LEAN = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]


@dataclass
class Source:
    """Three one-record chunks; records the task its cleanup ran in, and sets an Event then."""

    closed_by: list[asyncio.Task[object] | None] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def stream(self) -> AsyncGenerator[bytes, None]:
        try:
            for n in range(3):
                yield b'{"id": %d}\n' % n
        finally:
            self.closed_by.append(asyncio.current_task())
            self.closed.set()


@pytest.mark.asyncio
async def test_breaking_out_without_aclosing_leaves_the_cleanup_for_later_in_another_task() -> None:
    # The abandoned generator is finalised when it is garbage collected;
    # asyncio then schedules its aclose() as a new task, to run some time later.
    source = Source()

    async for record in read_records(source.stream()):
        assert record == {"id": 0}
        break

    assert source.closed_by == []  # nothing has cleaned up yet
    async with asyncio.timeout(2):  # reached only if it is broken
        await source.closed.wait()
    assert source.closed_by != [asyncio.current_task()]  # it ran once, in a task the loop made up
    assert len(source.closed_by) == 1


@pytest.mark.asyncio
async def test_closing_a_generator_that_never_started_runs_no_cleanup() -> None:
    # read_records never began, so neither did its `finally`: closing the source stays the caller's job.
    source = Source()
    chunks = source.stream()

    await read_records(chunks).aclose()

    assert source.closed_by == []
    await chunks.aclose()  # never started either: no cleanup to run here
    assert source.closed_by == []


@pytest.mark.asyncio
async def test_an_argument_checked_inside_an_async_generator_fails_only_at_the_first_anext() -> None:
    async def first(count: int) -> AsyncGenerator[Record, None]:
        if count < 1:
            raise ValueError("count must be at least 1")
        yield {"id": 1}

    records = first(0)  # no error: calling it only creates the generator
    with pytest.raises(ValueError, match=r"^count must be at least 1$"):
        await anext(records)  # far from the bad call

    def checked_first(count: int) -> AsyncGenerator[Record, None]:  # the fix: check, then return the generator
        if count < 1:
            raise ValueError("count must be at least 1")
        return first(count)

    with pytest.raises(ValueError, match=r"^count must be at least 1$"):
        checked_first(0)


def test_decoding_each_chunk_breaks_on_a_character_split_between_chunks() -> None:
    # Why read_records splits bytes on newlines and decodes whole lines instead.
    chunk = '{"name": "café"}\n'.encode()[:14]  # ends between the two bytes of "é"
    with pytest.raises(UnicodeDecodeError, match=r"can't decode byte 0xc3 in position 13: unexpected end of data$"):
        chunk.decode()


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
    result = pytester.runpytest(*LEAN, "-s")

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
    result = pytester.runpython(script)  # a script of its own: the message is printed as the process exits

    assert result.ret == 0
    result.stdout.no_fnmatch_line("*cleanup started*")
    result.stderr.fnmatch_lines(
        [
            "Task was destroyed but it is pending!",
            "task: <Task pending name=* coro=<<async_generator_athrow without __name__>()>>",
        ]
    )
