"""A line echo server on loopback that tells which event loop served each line.

Socket code runs on the event loop's own transports, and uvloop replaces those
with libuv's: code like this is worth testing on both loops. The client sends one
line of at most ``MAX_LINE`` bytes; the server answers ``<loop> <line>``, where
``<loop>`` is ``asyncio`` or ``uvloop``, or ``ERR line too long`` and hangs up. A
client that resets the connection is let go quietly: no error reaches the loop's
exception handler.
"""

import asyncio
import contextlib

MAX_LINE = 1024


def loop_implementation() -> str:
    """Name the package whose event loop runs the caller: ``asyncio``, ``uvloop``, ..."""
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]


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


async def start_echo_server(host: str, port: int) -> asyncio.Server:
    """Listen on ``host``; port 0 lets the OS pick a free one (read it from ``server.sockets``)."""
    return await asyncio.start_server(_serve, host, port, limit=MAX_LINE)


async def echo(host: str, port: int, message: str) -> tuple[str, str]:
    """Send one line; return the loop that served it and the text it echoed."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(message.encode() + b"\n")
        await writer.drain()
        reply = await reader.readline()
    finally:
        await _close(writer)
    if not reply.endswith(b"\n"):
        raise ConnectionError(f"server at {host}:{port} closed the connection without replying")
    served_by, _, text = reply.decode().removesuffix("\n").partition(" ")
    return served_by, text
