"""Every async test here runs twice, on asyncio's loop and on uvloop (see conftest.py)."""

import asyncio
import re
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import uvloop

from .echo_server import MAX_LINE, echo, loop_implementation, start_echo_server

WAIT = 2  # seconds; only reached when something is broken
LOOP_TYPES: dict[str, type[asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.SelectorEventLoop,
    "uvloop": uvloop.Loop,
}


@pytest.fixture
def loop_in_test_id(request: pytest.FixtureRequest) -> str:
    """The loop this run asked for: the first part of the test id, ``asyncio`` or ``uvloop``."""
    assert isinstance(request.node, pytest.Function)
    return request.node.callspec.id.split("-")[0]


@pytest_asyncio.fixture
async def server() -> AsyncIterator[tuple[str, int]]:
    """The echo server, on the same loop as the test (function loop scope, same factory).

    An error that a connection handler does not catch goes to the loop's exception
    handler, and asyncio's default one only logs it: the test would pass. This
    fixture collects those errors instead, and fails the test if there are any.
    """
    loop = asyncio.get_running_loop()
    unhandled: list[str] = []
    loop.set_exception_handler(
        lambda _, context: unhandled.append(f"{context['message']}: {context.get('exception')!r}")
    )
    try:
        async with await start_echo_server() as listener:
            yield listener.sockets[0].getsockname()[:2]
            await handlers_finished()
    finally:
        loop.set_exception_handler(None)
    assert unhandled == []


async def handlers_finished() -> None:
    """Wait, at most WAIT seconds, until every task but this one is done: the server's handlers."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if others:
        await asyncio.wait(others, timeout=WAIT)
    await asyncio.sleep(0)  # a task that just finished may still have its done callbacks to run


def reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection the way a crashed client does: a TCP reset, not an orderly close."""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.mark.asyncio
async def test_the_running_loop_is_the_one_named_in_the_test_id(loop_in_test_id: str) -> None:
    loop = asyncio.get_running_loop()

    assert loop_implementation() == loop_in_test_id
    assert isinstance(loop, LOOP_TYPES[loop_in_test_id])
    other = "uvloop" if loop_in_test_id == "asyncio" else "asyncio"
    assert not isinstance(loop, LOOP_TYPES[other])


@pytest.mark.asyncio
async def test_a_line_is_echoed_by_a_server_on_the_same_loop(server: tuple[str, int], loop_in_test_id: str) -> None:
    assert await echo(*server, "grüße, world") == (loop_in_test_id, "grüße, world")


@pytest.mark.asyncio
async def test_many_clients_at_once_each_get_their_own_line_back(server: tuple[str, int]) -> None:
    async with asyncio.timeout(WAIT):
        replies = await asyncio.gather(*(echo(*server, f"client {n}") for n in range(20)))

    assert [text for _, text in replies] == [f"client {n}" for n in range(20)]


@pytest.mark.asyncio
async def test_the_longest_allowed_line_is_echoed(server: tuple[str, int]) -> None:
    _, text = await echo(*server, "x" * MAX_LINE)

    assert text == "x" * MAX_LINE


@pytest.mark.asyncio
async def test_an_oversized_line_gets_an_error_and_the_server_hangs_up(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    try:
        writer.write(b"x" * (MAX_LINE + 1) + b"\n")
        async with asyncio.timeout(WAIT):
            assert await reader.readline() == b"ERR line too long\n"
            assert await reader.read() == b""  # end of stream: the server closed
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.asyncio
async def test_a_client_that_hangs_up_mid_line_is_let_go(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"no newline")
    writer.write_eof()

    async with asyncio.timeout(WAIT):
        assert await reader.read() == b""  # no echo for a half line, and the server closed
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("wait_for_the_echo", [True, False], ids=["after-its-echo", "before-the-error-reply"])
@pytest.mark.asyncio
async def test_a_client_that_resets_the_connection_is_let_go_quietly(
    server: tuple[str, int], wait_for_the_echo: bool
) -> None:
    reader, writer = await asyncio.open_connection(*server)
    if wait_for_the_echo:  # the server is waiting for the next line when the reset comes
        writer.write(b"hello\n")
        async with asyncio.timeout(WAIT):
            assert (await reader.readline()).endswith(b" hello\n")
    else:  # the reset comes before the server can send its error and close
        writer.write(b"x" * (MAX_LINE + 1) + b"\n")
    reset(writer)
    # the server fixture fails the test if the server reports an error for the reset


@pytest.mark.asyncio
async def test_by_default_each_server_gets_a_free_port_on_loopback_only() -> None:
    async with await start_echo_server() as first, await start_echo_server() as second:
        (first_host, first_port), (second_host, second_port) = [
            s.getsockname()[:2] for s in (*first.sockets, *second.sockets)
        ]

    assert (first_host, second_host) == ("127.0.0.1", "127.0.0.1")
    assert first_port != second_port


@pytest.mark.asyncio
async def test_a_server_listens_on_the_port_it_is_given(loop_in_test_id: str) -> None:
    with socket.socket() as probe:  # ask the OS for a free port, then give it back
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async with await start_echo_server("127.0.0.1", port) as listener:
        assert listener.sockets[0].getsockname()[1] == port
        assert await echo("127.0.0.1", port, "hi") == (loop_in_test_id, "hi")


@pytest.mark.parametrize(
    ("message", "told"),
    [
        ("", "got 0 bytes: ''"),
        ("two\nlines", r"got 9 bytes: 'two\nlines'"),
        ("é" * (MAX_LINE // 2 + 1), f"got {MAX_LINE + 2} bytes: '{'é' * 20}'"),  # the first 20 characters
    ],
    ids=["empty", "two-lines", "too-long"],
)
@pytest.mark.asyncio
async def test_a_message_that_is_not_one_short_line_is_refused(message: str, told: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"message must be one line of 1-{MAX_LINE} bytes, {told}")):
        await echo("127.0.0.1", 9, message)  # refused before connecting: nothing listens on port 9


@pytest.mark.asyncio
async def test_a_server_that_hangs_up_without_replying_is_a_connection_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # read the request first: closing with unread data would send a reset
        writer.close()

    listener = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    async with listener:
        port = listener.sockets[0].getsockname()[1]
        with pytest.raises(ConnectionError, match="closed the connection without replying"):
            await echo("127.0.0.1", port, "hello")


@pytest.mark.asyncio
async def test_nothing_listening_is_connection_refused_on_both_loops() -> None:
    # A bound socket that never listens: the port is ours, so no other process
    # can take it, and a connection to it is refused.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        with pytest.raises(ConnectionRefusedError):
            await echo("127.0.0.1", bound.getsockname()[1], "hello")


@pytest.mark.asyncio(loop_factories=["uvloop"])
async def test_the_marker_picks_one_loop(request: pytest.FixtureRequest) -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
    assert request.node.name == "test_the_marker_picks_one_loop"  # one factory: no id suffix


def test_loop_implementation_outside_a_loop_is_a_clear_error() -> None:
    with pytest.raises(
        RuntimeError, match=r"^loop_implementation\(\) must be called from code running on an event loop$"
    ):
        loop_implementation()


# The hook's rules and the doc's old way, in a sandbox ---------------------------

SANDBOX_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
THIS_CONFTEST = Path(__file__).with_name("conftest.py")


def test_the_hook_applies_to_its_own_folder_only(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    inside = pytester.mkpydir("inside")
    (inside / "conftest.py").write_text(THIS_CONFTEST.read_text())
    (inside / "test_inside.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.asyncio\nasync def test_async():\n    pass\n\n"
        "def test_sync():\n    pass\n\n"
        "@pytest.mark.asyncio(loop_factories=['trio'])\nasync def test_unknown_factory():\n    pass\n"
    )
    async_test = "import pytest\n\n@pytest.mark.asyncio{}\nasync def test_async():\n    pass\n"
    pytester.makepyfile(
        test_outside=async_test.format(""),
        test_outside_marked=async_test.format("(loop_factories=['uvloop'])"),
    )

    result = pytester.runpytest("-v", "-rs", "-p", "no:randomly", "--continue-on-collection-errors")

    result.assert_outcomes(passed=4, skipped=1, errors=1)
    result.stdout.fnmatch_lines_random(
        [
            "inside/test_inside.py::test_async?asyncio? PASSED*",
            "inside/test_inside.py::test_async?uvloop? PASSED*",
            "inside/test_inside.py::test_sync PASSED*",
            "*Loop factory 'trio' is not available. Available factories: asyncio, uvloop.",
            "test_outside.py::test_async PASSED*",
            "test_outside_marked.py::test_async: mark.asyncio 'loop_factories' requires at least one"
            " pytest_asyncio_loop_factories hook implementation.",
        ]
    )


def test_a_hook_that_returns_none_is_a_usage_error(pytester: pytest.Pytester) -> None:
    # The tempting "return None to keep the default loop" does not work: the hook
    # must always answer with factories, so a switch must decide whether to define it.
    pytester.makeini(SANDBOX_INI)
    pytester.makeconftest(
        """
        import os
        import uvloop

        def pytest_asyncio_loop_factories(config, item):
            if os.environ.get("USE_UVLOOP"):
                return {"uvloop": uvloop.new_event_loop}
            return None
        """
    )
    pytester.makepyfile("import pytest\n\n@pytest.mark.asyncio\nasync def test_async():\n    pass\n")

    result = pytester.runpytest("-p", "no:randomly", "-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:aiohttp")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*UsageError: pytest_asyncio_loop_factories must return a non-empty mapping of factory names to callables."]
    )


def test_the_docs_event_loop_policy_override_still_works_but_is_deprecated(pytester: pytest.Pytester) -> None:
    pytester.makeini(SANDBOX_INI)
    pytester.makepyfile(
        test_policy="""
        import asyncio
        import pytest
        import uvloop

        @pytest.fixture(scope="session")
        def event_loop_policy():
            return uvloop.EventLoopPolicy()

        @pytest.mark.asyncio
        async def test_runs_on_uvloop():
            assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            '*PytestDeprecationWarning: Overriding the "event_loop_policy" fixture is deprecated and will be removed'
            ' in a future version of pytest-asyncio. Use the "pytest_asyncio_loop_factories" hook to customize'
            " event loop creation."
        ]
    )
