"""A line echo server on loopback that tells which event loop served each line.

Socket code runs on the event loop's own transports, and uvloop replaces those
with libuv's: code like this is worth testing on both loops.

Protocol: the client sends one line of at most ``MAX_LINE`` bytes; the server
answers ``<loop> <line>``, where ``<loop>`` is ``asyncio`` or ``uvloop``, or
``ERR line too long`` and hangs up. A client that resets the connection is let go
quietly: no error reaches the event loop's exception handler.
"""

from __future__ import annotations

import asyncio
import contextlib

MAX_LINE = 1024


def loop_implementation() -> str:
    """Name the package whose event loop runs the caller: ``asyncio``, ``uvloop``, ..."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("loop_implementation() must be called from code running on an event loop") from None
    return type(loop).__module__.partition(".")[0]


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while (line := await reader.readline()).endswith(b"\n"):  # no newline: the client hung up
            writer.write(loop_implementation().encode() + b" " + line)
            await writer.drain()
    except ValueError:  # the line is longer than the reader's limit
        writer.write(b"ERR line too long\n")
    except ConnectionError:
        pass  # the client reset the connection: there is no one left to answer
    finally:
        await _close(writer)


async def start_echo_server(host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """Listen on ``host``; port 0 lets the OS pick a free one (read it from ``server.sockets``)."""
    return await asyncio.start_server(_serve, host, port, limit=MAX_LINE)


async def echo(host: str, port: int, message: str) -> tuple[str, str]:
    """Send one line; return the loop that served it and the text it echoed."""
    data = message.encode()
    if not data or b"\n" in data or len(data) > MAX_LINE:
        raise ValueError(f"message must be one line of 1-{MAX_LINE} bytes, got {len(data)} bytes: {message[:20]!r}")
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data + b"\n")
        await writer.drain()
        reply = await reader.readline()
    finally:
        await _close(writer)
    if not reply.endswith(b"\n"):
        raise ConnectionError(f"server at {host}:{port} closed the connection without replying")
    served_by, _, text = reply.decode().removesuffix("\n").partition(" ")
    return served_by, text
