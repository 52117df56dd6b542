"""Await a coroutine, use an async context manager, and prove it closes."""

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio

from .kv_client import KeyValueClient, ProtocolError, fetch_value

STORE = {"greeting": "hello world", "empty": ""}


@dataclass
class FakeServer:
    """A real server on loopback that records what it saw."""

    host: str
    port: int
    requests: list[str] = field(default_factory=list)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake: FakeServer

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                key = line.decode().removeprefix("GET ").strip()
                fake.requests.append(key)
                if key == "hang-up":
                    break  # close without answering
                if key == "reset":
                    # Linger 0: closing sends a TCP reset instead of the usual clean goodbye.
                    linger = struct.pack("ii", 1, 0)
                    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    break
                if key == "garbled":
                    writer.write(b"WHAT?\n")
                elif key in STORE:
                    writer.write(f"OK {STORE[key]}\n".encode())
                else:
                    writer.write(b"MISSING\n")
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            fake.disconnected.set()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    host, port = listener.sockets[0].getsockname()[:2]
    fake = FakeServer(host, port)
    async with listener:
        yield fake


async def wait_for_disconnect(server: FakeServer) -> None:
    # Bounded: a client that never closes fails here instead of hanging the run.
    async with asyncio.timeout(2):
        await server.disconnected.wait()


@pytest.mark.asyncio
async def test_awaiting_the_coroutine_gives_its_result(server: FakeServer) -> None:
    value = await fetch_value(server.host, server.port, "greeting")

    assert value == "hello world"
    assert server.requests == ["greeting"]


@pytest.mark.asyncio
async def test_an_empty_value_is_still_a_value(server: FakeServer) -> None:
    assert await fetch_value(server.host, server.port, "empty") == ""


@pytest.mark.asyncio
async def test_context_manager_closes_the_connection_on_exit(server: FakeServer) -> None:
    async with KeyValueClient(server.host, server.port) as client:
        assert await client.get("greeting") == "hello world"

    assert client.closed
    await wait_for_disconnect(server)


@pytest.mark.asyncio
async def test_context_manager_closes_the_connection_when_the_body_raises(server: FakeServer) -> None:
    with pytest.raises(ZeroDivisionError):
        async with KeyValueClient(server.host, server.port) as client:
            await client.get("greeting")
            _ = 1 / 0

    assert client.closed
    await wait_for_disconnect(server)


@pytest.mark.asyncio
async def test_closing_twice_is_harmless(server: FakeServer) -> None:
    async with KeyValueClient(server.host, server.port) as client:
        await client.close()
    assert client.closed


@pytest.mark.asyncio
async def test_unknown_key_raises_key_error(server: FakeServer) -> None:
    with pytest.raises(KeyError, match="nobody"):
        await fetch_value(server.host, server.port, "nobody")


@pytest.mark.parametrize("bad_key", ["", "two words", "line\nbreak", "k" * 65])
@pytest.mark.asyncio
async def test_invalid_key_is_refused_before_anything_is_sent(server: FakeServer, bad_key: str) -> None:
    async with KeyValueClient(server.host, server.port) as client:
        with pytest.raises(ValueError, match="invalid key"):
            await client.get(bad_key)
    await wait_for_disconnect(server)
    assert server.requests == []


@pytest.mark.asyncio
async def test_longest_allowed_key_is_accepted(server: FakeServer) -> None:
    with pytest.raises(KeyError):
        await fetch_value(server.host, server.port, "k" * 64)
    assert server.requests == ["k" * 64]


@pytest.mark.asyncio
async def test_using_the_client_outside_async_with_is_a_clear_error(server: FakeServer) -> None:
    client = KeyValueClient(server.host, server.port)

    with pytest.raises(RuntimeError) as error:
        await client.get("greeting")

    assert str(error.value) == "client is not connected: use `async with KeyValueClient(host, port) as client`"
    assert client.closed  # never opened counts as closed


@pytest.mark.asyncio
async def test_reply_the_client_cannot_parse_raises_protocol_error(server: FakeServer) -> None:
    with pytest.raises(ProtocolError, match="WHAT"):
        await fetch_value(server.host, server.port, "garbled")


@pytest.mark.asyncio
async def test_server_hanging_up_raises_connection_error(server: FakeServer) -> None:
    with pytest.raises(ConnectionError, match="closed the connection"):
        await fetch_value(server.host, server.port, "hang-up")


@pytest.mark.asyncio
async def test_closing_after_the_server_reset_the_connection_is_quiet(server: FakeServer) -> None:
    async with KeyValueClient(server.host, server.port) as client:
        with pytest.raises(ConnectionResetError):
            await client.get("reset")
    # Leaving the block did not raise a second error: close() expects a peer that is already gone.
    assert client.closed


@pytest.mark.asyncio
async def test_the_client_connects_to_the_host_it_is_given(server: FakeServer) -> None:
    # The server listens on 127.0.0.1 only: on the IPv6 loopback, the same port has no one.
    # A client that lost the host on the way would fall back to localhost and reach the server.
    with pytest.raises(OSError):  # noqa: PT011 - refused; without IPv6 the errno differs
        await fetch_value("::1", server.port, "greeting")
    assert server.requests == []


def test_forgetting_await_fails_with_a_confusing_type_error(pytester: pytest.Pytester) -> None:
    # The pitfall: without `await` the test holds a coroutine object, not the result.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import pytest

        async def fetch_status():
            return {"status": "ok"}

        @pytest.mark.asyncio
        async def test_forgot_await():
            result = fetch_status()
            assert result["status"] == "ok"

        @pytest.mark.asyncio
        async def test_awaited():
            result = await fetch_status()
            assert result["status"] == "ok"
        """
    )
    # In a subprocess: the failing test keeps its never-awaited coroutine alive
    # (sys.last_traceback), and it must not be collected in a later test of ours.
    result = pytester.runpytest_subprocess(
        "-W",
        "ignore::RuntimeWarning",
        "-p",
        "no:randomly",
        "-p",
        "no:xdist",
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:aiohttp",
    )

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*TypeError: 'coroutine' object is not subscriptable"])
