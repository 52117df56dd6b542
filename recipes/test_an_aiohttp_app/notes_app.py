"""A small notes service built by an aiohttp application factory.

Routes (JSON in, JSON out):

- ``GET /``: the service name and where the notes live.
- ``GET /notes``: every note, oldest first.
- ``POST /notes``: create a note from ``{"title": str, "body": str}`` (body optional);
  201 with the note and a ``Location`` header.
- ``GET /notes/{id}``: one note.

Every error, aiohttp's own 404, 405 and 413 included, is a JSON object with an
``"error"`` message; field problems add ``"fields"``: ``{name: problem}``.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

MAX_TITLE_LENGTH = 100
MAX_BODY_LENGTH = 2_000
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024


@dataclass(frozen=True)
class Note:
    id: int
    title: str
    body: str


class NoteStore:
    """In-memory notes, one store per application."""

    def __init__(self) -> None:
        self._notes: dict[int, Note] = {}
        self._ids = itertools.count(1)

    def add(self, title: str, body: str) -> Note:
        note = Note(next(self._ids), title, body)
        self._notes[note.id] = note
        return note

    def get(self, note_id: int) -> Note | None:
        return self._notes.get(note_id)

    def all(self) -> list[Note]:
        return list(self._notes.values())


NOTES = web.AppKey("notes", NoteStore)


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's plain-text HTTP errors into JSON, keeping headers such as ``Allow``."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        headers = exc.headers.copy()
        headers.popall("Content-Type", None)
        return web.json_response({"error": exc.reason}, status=exc.status, headers=headers)


def check_note(data: dict[str, Any]) -> dict[str, str]:
    """Return the problems with a new note's fields, by field name; empty when it is valid."""
    problems = dict.fromkeys(data.keys() - {"title", "body"}, "unknown field")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        problems["title"] = "required, a non-blank string"
    elif len(title) > MAX_TITLE_LENGTH:
        problems["title"] = f"at most {MAX_TITLE_LENGTH} characters"
    body = data.get("body", "")
    if not isinstance(body, str):
        problems["body"] = "must be a string"
    elif len(body) > MAX_BODY_LENGTH:
        problems["body"] = f"at most {MAX_BODY_LENGTH} characters"
    return problems


async def index(request: web.Request) -> web.Response:
    return web.json_response({"service": "notes", "notes": str(request.app.router["notes"].url_for())})


async def list_notes(request: web.Request) -> web.Response:
    return web.json_response({"notes": [asdict(note) for note in request.app[NOTES].all()]})


async def create_note(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        return error(415, f"expected Content-Type application/json, got {request.content_type}")
    try:
        data = await request.json()  # raises HTTPRequestEntityTooLarge past client_max_size
    except ValueError:
        return error(400, "request body is not valid JSON")
    if not isinstance(data, dict):
        return error(422, "expected a JSON object with the note's fields")
    problems = check_note(data)
    if problems:
        return error(422, "invalid note", fields=problems)
    note = request.app[NOTES].add(data["title"].strip(), data.get("body", ""))
    location = request.app.router["note"].url_for(note_id=str(note.id))
    return web.json_response(asdict(note), status=201, headers={"Location": str(location)})


async def get_note(request: web.Request) -> web.Response:
    note_id = int(request.match_info["note_id"])
    note = request.app[NOTES].get(note_id)
    if note is None:
        return error(404, f"no note with id {note_id}")
    return web.json_response(asdict(note))


def create_app(*, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> web.Application:
    """Build a fresh application with its own empty store."""
    if max_request_bytes < 1:
        raise ValueError(f"max_request_bytes must be at least 1, got {max_request_bytes}")
    app = web.Application(client_max_size=max_request_bytes, middlewares=[json_errors])
    app[NOTES] = NoteStore()
    app.router.add_get("/", index)
    app.router.add_get("/notes", list_notes, name="notes")
    app.router.add_post("/notes", create_note)
    app.router.add_get(r"/notes/{note_id:\d+}", get_note, name="note")
    return app
