"""The fuzzing target: notes over HTTP, sums over a websocket; every answer JSON, never a 5xx or a drop."""

import json
from contextlib import suppress
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.typedefs import Handler

NOTES = web.AppKey("notes", dict[int, str])


def parse_json(text: str) -> Any:
    """The one place input is decoded: ``ValueError`` unless plain, finite JSON; ``RecursionError`` if too deep."""
    data = json.loads(text)  # an integer of more than 4300 digits is a ValueError already
    json.dumps(data, allow_nan=False, ensure_ascii=False).encode()  # NaN, Infinity, 1e999, a lone "\ud800"
    return data


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:  # the router's 404 and 405 too; their headers (Allow) stay
        exc.text, exc.content_type = json.dumps({"error": exc.reason}), "application/json"
        raise


async def create_note(request: web.Request) -> web.Response:
    if (request.charset or "utf-8").lower() != "utf-8":  # JSON is UTF-8; .text() raises LookupError on "x"
        raise web.HTTPUnsupportedMediaType(reason="send JSON encoded as UTF-8")
    try:
        data = parse_json((await request.read()).decode())  # read(): a 413 past client_max_size
    except (ValueError, RecursionError):  # UnicodeDecodeError included; RecursionError: [[[[...
        raise web.HTTPBadRequest(reason="the body is not plain JSON") from None
    title = data.get("title") if isinstance(data, dict) else None
    if not isinstance(title, str) or not title.strip():
        raise web.HTTPUnprocessableEntity(reason="a note needs a non-blank title")
    notes = request.app[NOTES]
    notes[note_id := len(notes) + 1] = title
    return web.json_response({"id": note_id, "title": title}, status=201)


async def get_note(request: web.Request) -> web.Response:
    note_id = int(request.match_info["note_id"])  # the route admits 1 to 18 ASCII digits, no leading 0
    if (title := request.app[NOTES].get(note_id)) is None:
        raise web.HTTPNotFound()  # the same answer as for a path no route matches
    return web.json_response({"id": note_id, "title": title})


def answer(text: str) -> str:
    with suppress(ValueError, RecursionError, OverflowError):  # also a sum of 4301 digits; 0.5 + 10**400
        match parse_json(text):
            case {"sum": list(values)} if all(type(value) in (int, float) for value in values):
                return json.dumps({"sum": sum(values)}, allow_nan=False)  # 1e308 + 1e308 is inf: ValueError
    return json.dumps({"error": 'send {"sum": [numbers]}'})


async def sums(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type is WSMsgType.TEXT:
            await ws.send_str(answer(message.data))
        else:  # BINARY; an ERROR (bad UTF-8, too big) has closed the socket already: a no-op then
            await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"text frames only")
    return ws


def create_app() -> web.Application:
    app = web.Application(middlewares=[json_errors])
    app[NOTES] = {}
    app.router.add_post("/notes", create_note)
    app.router.add_get(r"/notes/{note_id:[1-9][0-9]{0,17}}", get_note)
    app.router.add_get("/ws", sums)
    return app
