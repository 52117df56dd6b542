"""A small notes API on Starlette whose lifespan opens an asyncpg pool into ``app.state``.

``POST /notes`` takes ``{"title": ..., "body": ...}`` (body optional) and answers 201 with a ``Location``;
``GET /notes`` lists the notes, ``GET /notes/{id}`` serves one. The pool is opened at startup and closed
at shutdown. Every error, Starlette's own 404 and 405 and a body over 64 KiB (413) included, is JSON
``{"error": ...}``, never a 5xx.
"""

import contextlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS asgi_notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text, body text)"
)
COLUMNS = "id, title, body"
MAX_BODY = 64 * 1024  # bytes; Starlette(max_body_size=...) would answer its 413 in plain text


async def json_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # registered for HTTPException alone
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def read_body(request: Request) -> bytes:
    """The body, refused with a 413 by its Content-Length, or while it arrives when there is none (chunked)."""
    with contextlib.suppress(KeyError, ValueError):  # no Content-Length, or not a number: the count still holds
        if int(request.headers["content-length"]) > MAX_BODY:
            raise HTTPException(413)  # before a byte is read
    body = bytearray()
    async for chunk in request.stream():
        body += chunk  # in place: a client sending one byte at a time costs no more
        if len(body) > MAX_BODY:
            raise HTTPException(413)
    return bytes(body)


class Notes(HTTPEndpoint):
    async def get(self, request: Request) -> JSONResponse:
        rows = await request.app.state.pool.fetch(f"SELECT {COLUMNS} FROM asgi_notes ORDER BY id")
        return JSONResponse([dict(row) for row in rows])

    async def post(self, request: Request) -> JSONResponse:
        try:  # the one place the body is decoded: UTF-8, then JSON, then the way back
            data: Any = json.loads((await read_body(request)).decode())
            json.dumps(data, allow_nan=False, ensure_ascii=False).encode()  # NaN, Infinity, a lone "\ud800"
        except (ValueError, RecursionError):  # RecursionError: hostile nesting such as [[[[...
            raise HTTPException(400, "request body is not valid JSON") from None
        title, body = (data.get("title"), data.get("body", "")) if isinstance(data, dict) else (None, None)
        if not isinstance(title, str) or not title.strip() or not isinstance(body, str) or "\x00" in title + body:
            raise HTTPException(422, "a note needs a non-blank title and a text body")  # text cannot hold NUL
        row = await request.app.state.pool.fetchrow(
            f"INSERT INTO asgi_notes (title, body) VALUES ($1, $2) RETURNING {COLUMNS}", title.strip(), body
        )
        location = request.url_for("note", note_id=str(row["id"])).path
        return JSONResponse(dict(row), status_code=201, headers={"Location": location})


async def get_note(request: Request) -> JSONResponse:
    note_id: str = request.path_params["note_id"]
    # 1 to 18 ASCII digits, so int() never meets 5,000 digits and the id fits a bigint.
    if re.fullmatch(r"[0-9]{1,18}", note_id):
        row = await request.app.state.pool.fetchrow(f"SELECT {COLUMNS} FROM asgi_notes WHERE id = $1", int(note_id))
        if row is not None:
            return JSONResponse(dict(row))
    raise HTTPException(404, f"no note with id {note_id}")


def create_app(dsn: str) -> Starlette:
    """Build the app; its lifespan opens the pool (and the table) at startup and closes the pool at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
            await pool.execute(SCHEMA)
            app.state.pool = pool
            yield

    routes = [Route("/notes", Notes), Route("/notes/{note_id}", get_note, name="note")]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: json_error})
