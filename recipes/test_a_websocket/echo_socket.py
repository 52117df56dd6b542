"""A WebSocket endpoint on an aiohttp app: echo, JSON commands, and strict limits.

Protocol, one text message at a time:

- plain text is echoed back as ``"echo: <text>"``;
- a JSON object is a command: ``{"cmd": "ping"}`` answers ``{"reply": "pong"}``,
  ``{"cmd": "sum", "values": [numbers]}`` answers ``{"sum": total}``, and
  ``{"cmd": "close"}`` closes the socket with code 1000;
  anything else answers ``{"error": ...}`` and keeps the socket open.

Binary frames close the socket with 1003 (unsupported data), messages at or over
``max_message_bytes`` with 1009 (too big; aiohttp counts the limit itself as too
big), and a heartbeat drops clients that stop answering pings. Server shutdown
closes every open socket with 1001.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024
DEFAULT_HEARTBEAT_SECONDS = 20.0


@dataclass
class Connections:
    """The app's open sockets; ``idle`` is set whenever there are none."""

    max_message_bytes: int
    heartbeat: float
    open: set[web.WebSocketResponse] = field(default_factory=set)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    def add(self, ws: web.WebSocketResponse) -> None:
        self.open.add(ws)
        self.idle.clear()

    def discard(self, ws: web.WebSocketResponse) -> None:
        self.open.discard(ws)
        if not self.open:
            self.idle.set()


CONNECTIONS = web.AppKey("connections", Connections)


def answer(text: str) -> str | None:
    """The reply to one text message, or ``None`` when the client asks to close."""
    if not text.lstrip().startswith("{"):
        return f"echo: {text}"
    try:
        command: Any = json.loads(text)
    except ValueError:
        return json.dumps({"error": "invalid JSON"})
    match command:
        case {"cmd": "ping"}:
            return json.dumps({"reply": "pong"})
        case {"cmd": "close"}:
            return None
        case {"cmd": "sum", "values": list(values)} if all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            return json.dumps({"sum": sum(values)})
        case {"cmd": "sum"}:
            return json.dumps({"error": "sum needs 'values': a list of numbers"})
        case {"cmd": str(name)}:
            return json.dumps({"error": f"unknown command {name!r}"})
        case _:
            return json.dumps({"error": "a command is an object with a 'cmd' string"})


async def websocket(request: web.Request) -> web.WebSocketResponse:
    connections = request.app[CONNECTIONS]
    ws = web.WebSocketResponse(heartbeat=connections.heartbeat, max_msg_size=connections.max_message_bytes)
    await ws.prepare(request)
    connections.add(ws)
    try:
        # The loop ends by itself once the socket is closed, by us or by the client.
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                # BINARY is refused with 1003. A too-big message or a lost connection arrives
                # as ERROR, already closed by aiohttp (1009, 1006): this close is then a no-op.
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"only text messages are accepted")
            elif (reply := answer(message.data)) is None:
                await ws.close(code=WSCloseCode.OK, message=b"bye")
            else:
                await ws.send_str(reply)
    finally:
        # However the handler ends: a close, an error, or cancellation (aiohttp's
        # TestServer cancels handlers whose client disconnected; run_app does not).
        connections.discard(ws)
    return ws


async def close_open_sockets(app: web.Application) -> None:
    for ws in set(app[CONNECTIONS].open):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


def create_app(
    *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, heartbeat: float = DEFAULT_HEARTBEAT_SECONDS
) -> web.Application:
    """An app serving the socket at ``/ws``."""
    if max_message_bytes < 1 or heartbeat <= 0:
        raise ValueError(f"need max_message_bytes >= 1 and heartbeat > 0, got {max_message_bytes}, {heartbeat}")
    app = web.Application()
    app[CONNECTIONS] = Connections(max_message_bytes, heartbeat)
    app.router.add_get("/ws", websocket)
    app.on_shutdown.append(close_open_sockets)
    return app
