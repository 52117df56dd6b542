"""A WebSocket endpoint on an aiohttp app: an echo, two JSON commands, defined close codes.

Text comes back as ``"echo: <text>"``; ``{"cmd": "ping"}`` answers ``{"reply": "pong"}`` and
``{"cmd": "close"}`` closes with 1000; any other ``{...}`` gets ``{"error": ...}``. Binary: 1003;
64 KiB or more: 1009; no pong to the heartbeat's pings: dropped; server shutdown: 1001.
"""

import asyncio
import json
from contextlib import suppress
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web


@dataclass
class Connections:
    """The app's open sockets; ``idle`` is set when the last one has closed."""

    heartbeat: float
    open: set[web.WebSocketResponse] = field(default_factory=set)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, ws: web.WebSocketResponse) -> None:
        self.open.add(ws)
        self.idle.clear()

    def discard(self, ws: web.WebSocketResponse) -> None:
        self.open.discard(ws)
        if not self.open:
            self.idle.set()


CONNECTIONS = web.AppKey("connections", Connections)


def answer(text: str) -> str | None:
    """The reply to one text message; ``None`` when the client asks to close."""
    if not text.startswith("{"):
        return f"echo: {text}"
    with suppress(ValueError, RecursionError):  # RecursionError: hostile nesting such as {"a": [[[[...
        match json.loads(text):
            case {"cmd": "ping"}:
                return json.dumps({"reply": "pong"})
            case {"cmd": "close"}:
                return None
    return json.dumps({"error": 'a command is a JSON object such as {"cmd": "ping"}'})


async def websocket(request: web.Request) -> web.WebSocketResponse:
    connections = request.app[CONNECTIONS]
    ws = web.WebSocketResponse(heartbeat=connections.heartbeat, max_msg_size=64 * 1024)
    await ws.prepare(request)
    connections.add(ws)
    try:
        async for message in ws:  # ends by itself once the socket is closed, by either side
            if message.type is not WSMsgType.TEXT:
                # BINARY gets 1003; ERROR (too big, connection lost) is already closed: a no-op.
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"only text messages are accepted")
            elif (reply := answer(message.data)) is None:
                await ws.close(code=WSCloseCode.OK, message=b"bye")
            else:
                await ws.send_str(reply)
    finally:  # a close, an error or a cancellation (TestServer cancels handlers whose client left)
        connections.discard(ws)
    return ws


async def close_open_sockets(app: web.Application) -> None:
    for ws in set(app[CONNECTIONS].open):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


def create_app(*, heartbeat: float) -> web.Application:
    """An app serving the socket at ``/ws``; ``heartbeat``: seconds between pings to each client."""
    app = web.Application()
    app[CONNECTIONS] = Connections(heartbeat)
    app.router.add_get("/ws", websocket)
    app.on_shutdown.append(close_open_sockets)
    return app
