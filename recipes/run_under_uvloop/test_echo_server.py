"""Every async test here runs twice, on asyncio's loop and on uvloop: conftest.py's hook asks for both."""

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import uvloop

from .echo_server import MAX_LINE, echo, loop_implementation, start_echo_server

pytestmark = pytest.mark.asyncio
WAIT = 2  # seconds; only reached when something is broken
LOOP_TYPES = {"asyncio": asyncio.SelectorEventLoop, "uvloop": uvloop.Loop}


@pytest.fixture
def loop_in_test_id(request: pytest.FixtureRequest) -> str:
    """The loop this run asked for: the first part of the test id, ``asyncio`` or ``uvloop``."""
    assert isinstance(request.node, pytest.Function)
    return request.node.callspec.id.split("-")[0]


async def test_the_running_loop_is_the_one_named_in_the_test_id(loop_in_test_id: str) -> None:
    assert loop_implementation() == loop_in_test_id
    assert type(asyncio.get_running_loop()) is LOOP_TYPES[loop_in_test_id]


@pytest.mark.asyncio(loop_factories=["uvloop"])
async def test_the_marker_picks_one_loop(request: pytest.FixtureRequest) -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
    assert request.node.name == "test_the_marker_picks_one_loop"  # one factory: no id suffix


@pytest_asyncio.fixture
async def server() -> AsyncIterator[tuple[str, int]]:
    """The echo server, on the same loop as the test (function loop scope, same factory).

    An error no connection handler catches goes to the loop's exception handler, and
    the default one only logs it: the test would pass. This fixture fails the test.
    """
    loop = asyncio.get_running_loop()
    unhandled: list[str] = []
    loop.set_exception_handler(
        lambda _, context: unhandled.append(f"{context['message']}: {context.get('exception')!r}")
    )
    try:
        async with await start_echo_server("127.0.0.1", 0) as listener:
            yield listener.sockets[0].getsockname()[:2]
            others = asyncio.all_tasks() - {asyncio.current_task()}  # the server's connection handlers
            if others:
                await asyncio.wait(others, timeout=WAIT)
            await asyncio.sleep(0)  # a task that just finished may still have done callbacks to run
    finally:
        loop.set_exception_handler(None)
    assert unhandled == []


async def test_a_line_is_echoed_by_a_server_on_the_same_loop(server: tuple[str, int], loop_in_test_id: str) -> None:
    assert await echo(*server, "grüße, world") == (loop_in_test_id, "grüße, world")


async def test_many_clients_at_once_each_get_their_own_line_back(server: tuple[str, int]) -> None:
    async with asyncio.timeout(WAIT):
        replies = await asyncio.gather(*(echo(*server, f"client {n}") for n in range(20)))

    assert [text for _, text in replies] == [f"client {n}" for n in range(20)]


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


async def test_a_client_that_hangs_up_mid_line_is_let_go(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"no newline")
    writer.write_eof()

    async with asyncio.timeout(WAIT):
        assert await reader.read() == b""  # no echo for a half line, and the server closed
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("wait_for_the_echo", [True, False], ids=["after-its-echo", "before-the-error-reply"])
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
    # A crashed client sends a TCP reset, not an orderly close (SO_LINGER 0, then abort).
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    # the server fixture fails the test if the server reports an error for the reset


async def test_a_server_that_hangs_up_without_replying_is_a_connection_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # read the request first: closing with unread data would send a reset
        writer.close()

    async with await asyncio.start_server(hang_up, "127.0.0.1", 0) as listener:
        port = listener.sockets[0].getsockname()[1]
        with pytest.raises(ConnectionError, match=rf"^server at 127\.0\.0\.1:{port} closed the connection without"):
            await echo("127.0.0.1", port, "hello")


async def test_nothing_listening_is_connection_refused_on_both_loops() -> None:
    # A bound socket that never listens: the port is ours, so no other process can take it.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        with pytest.raises(ConnectionRefusedError):
            await echo("127.0.0.1", bound.getsockname()[1], "hello")


async def test_the_server_listens_only_on_the_address_it_is_given() -> None:
    with socket.socket() as probe:  # ask the OS for a free port, then give it back
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async with await start_echo_server("127.0.0.1", port) as listener:
        assert [sock.getsockname()[:2] for sock in listener.sockets] == [("127.0.0.1", port)]  # loopback only
