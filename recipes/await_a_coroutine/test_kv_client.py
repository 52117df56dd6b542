"""Await a coroutine, and prove an async context manager closes its connection on every way out."""

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .kv_client import KeyValueClient, ProtocolError, fetch_value

HOST = "127.0.0.1"
REPLIES = {"greeting": b"OK hello world\n", "garbled": b"WHAT?\n"}  # any other key is MISSING


class FakeServer:
    """A real server on loopback that records each request and the moment the client hangs up."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[str] = []
        self.disconnected = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (line := await reader.readline()) and (key := line.decode()[4:-1]) != "hang-up":
            self.requests.append(key)
            if key == "reset":  # linger 0: closing sends a TCP reset instead of a clean goodbye
                writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                break
            writer.write(REPLIES.get(key, b"MISSING\n"))
        writer.close()
        self.disconnected.set()


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    async with await asyncio.start_server(fake.handle, HOST, 0) as listener:  # port 0: the OS picks a free one
        fake.port = listener.sockets[0].getsockname()[1]
        yield fake


@pytest.mark.asyncio
async def test_context_manager_closes_the_connection_when_the_body_raises(server: FakeServer) -> None:
    with pytest.raises(ZeroDivisionError):
        async with KeyValueClient(HOST, server.port) as client:
            await client.get("greeting")
            _ = 1 / 0
    await asyncio.wait_for(server.disconnected.wait(), timeout=2)  # an event, not a sleep; bounded


@pytest.mark.asyncio
async def test_awaiting_the_coroutine_gives_its_result(server: FakeServer) -> None:
    value = await fetch_value(HOST, server.port, "greeting")

    assert value == "hello world"
    assert server.requests == ["greeting"]


@pytest.mark.asyncio
async def test_context_manager_closes_the_connection_on_exit(server: FakeServer) -> None:
    async with KeyValueClient(HOST, server.port) as client:
        assert await client.get("greeting") == "hello world"
        assert not server.disconnected.is_set()

    await asyncio.wait_for(server.disconnected.wait(), timeout=2)


@pytest.mark.asyncio
async def test_unknown_key_raises_key_error(server: FakeServer) -> None:
    with pytest.raises(KeyError, match="nobody"):
        await fetch_value(HOST, server.port, "nobody")


@pytest.mark.asyncio
async def test_reply_the_client_cannot_parse_raises_protocol_error(server: FakeServer) -> None:
    with pytest.raises(ProtocolError, match=r"unexpected reply to GET garbled: b'WHAT\?\\n'"):
        await fetch_value(HOST, server.port, "garbled")


@pytest.mark.asyncio
async def test_server_hanging_up_raises_connection_error(server: FakeServer) -> None:
    with pytest.raises(ConnectionError, match="server closed the connection while we waited for 'hang-up'"):
        await fetch_value(HOST, server.port, "hang-up")


@pytest.mark.asyncio
async def test_closing_after_the_server_reset_the_connection_is_quiet(server: FakeServer) -> None:
    async with KeyValueClient(HOST, server.port) as client:
        with pytest.raises(ConnectionResetError):
            await client.get("reset")
    # Leaving the block raised no second error: the exit expects a peer that may already be gone.


@pytest.mark.asyncio
async def test_the_client_connects_to_the_host_it_is_given(server: FakeServer) -> None:
    # The server listens on 127.0.0.1 only: on the IPv6 loopback the same port has no one.
    # A client that lost the host on the way would fall back to localhost and reach the server.
    with pytest.raises(OSError):  # noqa: PT011 - refused; without IPv6 the errno differs
        await fetch_value("::1", server.port, "greeting")
    assert server.requests == []
