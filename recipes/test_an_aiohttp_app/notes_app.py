"""A small notes service built by an aiohttp application factory.

``POST /notes`` takes ``{"title": ..., "body": ...}`` (body optional) and answers 201 with
a ``Location``; ``GET /notes`` lists the notes, ``GET /notes/{id}`` serves one. Every error,
aiohttp's own 404, 405 and 413 included, is JSON ``{"error": ...}``, and never a 5xx.
"""

import itertools
import json
from dataclasses import asdict, dataclass

from aiohttp import web
from aiohttp.typedefs import Handler


@dataclass(frozen=True)
class Note:
    id: int
    title: str
    body: str


class NoteStore:
    """In-memory notes, one store per application."""

    def __init__(self) -> None:
        self.notes: dict[int, Note] = {}
        self._ids = itertools.count(1)

    def add(self, title: str, body: str) -> Note:
        note = Note(next(self._ids), title, body)
        self.notes[note.id] = note
        return note


NOTES = web.AppKey("notes", NoteStore)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every HTTP error as JSON, keeping headers such as ``Allow``."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        headers = exc.headers.copy()
        headers.popall("Content-Type", None)
        return web.json_response({"error": exc.reason}, status=exc.status, headers=headers)


async def list_notes(request: web.Request) -> web.Response:
    return web.json_response([asdict(note) for note in request.app[NOTES].notes.values()])


async def create_note(request: web.Request) -> web.Response:
    if (request.charset or "utf-8").lower() != "utf-8":  # JSON is UTF-8; any other codec is the client's choice
        raise web.HTTPUnsupportedMediaType(reason="send the note as UTF-8 JSON")
    try:  # the one place the body is decoded: UTF-8, then JSON, then the way back
        data = json.loads((await request.read()).decode())  # past client_max_size read() raises a 413 itself
        json.dumps(data, allow_nan=False, ensure_ascii=False).encode()  # NaN, Infinity, a lone "\ud800"
    except (ValueError, RecursionError):  # RecursionError: hostile nesting such as [[[[...
        raise web.HTTPBadRequest(reason="request body is not valid JSON") from None
    title, body = (data.get("title"), data.get("body", "")) if isinstance(data, dict) else (None, None)
    if not isinstance(title, str) or not title.strip() or not isinstance(body, str):
        raise web.HTTPUnprocessableEntity(reason="a note needs a non-blank title and a text body")
    note = request.app[NOTES].add(title.strip(), body)
    location = request.app.router["note"].url_for(note_id=str(note.id))
    return web.json_response(asdict(note), status=201, headers={"Location": str(location)})


async def get_note(request: web.Request) -> web.Response:
    # The route admits 1 to 18 ASCII digits: \d also matches "٣", and int() of 4301 digits raises.
    note = request.app[NOTES].notes.get(int(request.match_info["note_id"]))
    if note is None:
        raise web.HTTPNotFound(reason=f"no note with id {request.match_info['note_id']}")
    return web.json_response(asdict(note))


def create_app() -> web.Application:
    """Build a fresh application with its own empty store and a 64 KiB request limit."""
    app = web.Application(client_max_size=64 * 1024, middlewares=[json_errors])
    app[NOTES] = NoteStore()
    app.router.add_get("/notes", list_notes)
    app.router.add_post("/notes", create_note)
    app.router.add_get(r"/notes/{note_id:[0-9]{1,18}}", get_note, name="note")
    return app
