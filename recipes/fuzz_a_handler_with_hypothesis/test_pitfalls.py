"""The same properties, run against the naive version of the app: hypothesis finds its bugs."""

import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
FAST = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]

# The app as it is usually first written: aiohttp's request.json(), a \d+ route, json.loads and sum().
NAIVE_APP = """
import json

from aiohttp import WSCloseCode, WSMsgType, web

NOTES = web.AppKey("notes", dict[int, str])


@web.middleware
async def json_errors(request, handler):
    try:
        return await handler(request)
    except web.HTTPException as exc:
        exc.text, exc.content_type = json.dumps({"error": exc.reason}), "application/json"
        raise


async def create_note(request):
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(reason="the body is not plain JSON")
    title = data.get("title") if isinstance(data, dict) else None
    if not isinstance(title, str) or not title.strip():
        raise web.HTTPUnprocessableEntity(reason="a note needs a non-blank title")
    notes = request.app[NOTES]
    notes[note_id := len(notes) + 1] = title
    return web.json_response({"id": note_id, "title": title}, status=201)


async def get_note(request):
    note_id = int(request.match_info["note_id"])
    if (title := request.app[NOTES].get(note_id)) is None:
        raise web.HTTPNotFound()
    return web.json_response({"id": note_id, "title": title})


async def sums(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type is not WSMsgType.TEXT:
            await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"text frames only")
            continue
        try:
            values = json.loads(message.data)["sum"]
        except (ValueError, KeyError, TypeError):
            await ws.send_json({"error": 'send {"sum": [numbers]}'})
        else:
            await ws.send_json({"sum": sum(values)})
    return ws


def create_app():
    app = web.Application(middlewares=[json_errors])
    app[NOTES] = {}
    app.router.add_post("/notes", create_note)
    app.router.add_get(r"/notes/{note_id:\\d+}", get_note)
    app.router.add_get("/ws", sums)
    return app
"""


# The socket has several: which one hypothesis meets first depends on the examples drawn, and
# those depend on the constants it collects from every module loaded in the process.
SOCKET_BUGS = {
    "OverflowError: int too large to convert to float",  # 0.0 plus an integer of 309 digits
    "ValueError: Exceeds the limit (4300 digits) for integer string conversion;"  # a sum of 4301 digits
    " use sys.set_int_max_str_digits() to increase the limit",
} | {  # {"sum": Infinity} sent back: not JSON. Python 3.12 added the value to the message.
    "ValueError: Out of range float values are not JSON compliant"
    + (f": {value}" if sys.version_info >= (3, 12) else "")
    for value in ("inf", "-inf", "nan")
}


def test_the_properties_find_the_naive_apps_bugs_each_with_its_exception(pytester: pytest.Pytester) -> None:
    # The pattern file itself, beside a naive hardened_app.py, less its @example lines: what fails
    # below is what hypothesis found, not an input written down after the fact.
    pytester.makeini("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n")
    source = Path(__file__).with_name("test_hardened_app.py").read_text().splitlines(keepends=True)
    properties = "".join(line for line in source if not line.startswith("@example("))
    pytester.makepyfile(__init__="", hardened_app=NAIVE_APP, test_hardened_app=properties)

    result = pytester.runpytest(*FAST, "--tb=short", "-k", "not served_back and not their_sum")  # no round trips

    result.assert_outcomes(failed=3, deselected=2)  # each stops at its first bug, shrinks it, prints it
    # One bug prints after "E   "; two or more as an exception group, after "    | ".
    reported = {line[4:] if line.startswith("E   ") else line[6:] for line in result.stdout.lines}
    assert {
        "ValueError: Exceeds the limit (4300 digits) for integer string conversion: value has 4301 digits;"
        " use sys.set_int_max_str_digits() to increase the limit",
        "Failing test case: test_a_note_is_served_at_its_own_id_and_nowhere_else(",
        "    segment='9' * 4301,",
        "LookupError: unknown encoding: 0",
        "Failing test case: test_a_post_is_answered_in_json_and_a_refused_one_changes_nothing(",
        "    content_type='application/json; charset=0',",
        "Failing test case: test_every_frame_gets_a_json_reply_or_a_defined_close_code(",
    } <= reported
    assert reported & SOCKET_BUGS
