"""A retry loop that never sees a timeout, aiohttp's own resend, a body cut short, a hostile upstream."""

import json
import re
import sys
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpRawServer

from .upstream_client import BadResponse, UpstreamClient

pytest_plugins = ["pytester"]

# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
FAST = [
    "--disable-plugin-autoload",
    "-p",
    "pytest_asyncio.plugin",
    "-p",
    "pytest_aiohttp.plugin",
    "-p",
    "no:cacheprovider",
]


def test_a_retry_loop_that_catches_only_client_error_lets_a_timeout_escape(pytester: pytest.Pytester) -> None:
    # aiohttp's total timeout raises the built-in TimeoutError, which is not an
    # aiohttp.ClientError, so `except aiohttp.ClientError` never retries a slow reply.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n")
    pytester.makepyfile(
        """
        import asyncio
        import aiohttp
        import pytest
        from aiohttp import web

        async def get_with_retry(session, url, errors):
            for attempt in range(3):
                try:
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=0.05)) as response:
                        return await response.json()
                except errors:
                    continue
            raise RuntimeError("no luck")

        async def run(aiohttp_raw_server, errors):
            replies = iter(["stall", "ok"])

            async def handler(request):
                if next(replies) == "stall":
                    await asyncio.Event().wait()
                return web.json_response({"ok": True})

            server = await aiohttp_raw_server(handler)
            async with aiohttp.ClientSession() as session:
                return await get_with_retry(session, str(server.make_url("/")), errors)

        @pytest.mark.asyncio
        async def test_catches_client_error_only(aiohttp_raw_server):
            assert await run(aiohttp_raw_server, aiohttp.ClientError) == {"ok": True}

        @pytest.mark.asyncio
        async def test_catches_timeouts_too(aiohttp_raw_server):
            assert await run(aiohttp_raw_server, (aiohttp.ClientError, TimeoutError)) == {"ok": True}
        """
    )
    result = pytester.runpytest(*FAST, "--tb=short")

    result.assert_outcomes(passed=1, failed=1)
    # A bare TimeoutError, no message: the summary line names only the test.
    result.stdout.fnmatch_lines(["E   TimeoutError", "FAILED *::test_catches_client_error_only*"])


@pytest.mark.asyncio
async def test_aiohttp_itself_resends_a_get_once_when_the_server_hangs_up_before_replying(
    aiohttp_raw_server: AiohttpRawServer,
) -> None:
    # aiohttp retries an idempotent request once on "Server disconnected", so each try
    # of your own retry loop can cost the upstream two requests: count them at the server.
    requests: list[str] = []

    async def hang_up(request: web.BaseRequest) -> web.StreamResponse:
        requests.append(request.method)
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    server = await aiohttp_raw_server(hang_up)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ServerDisconnectedError, match=r"^Server disconnected$"):
            await session.get(server.make_url("/"))
    assert requests == ["GET", "GET"]


@pytest.mark.asyncio
async def test_a_body_cut_short_fails_while_it_is_read_not_when_the_status_arrives(
    aiohttp_raw_server: AiohttpRawServer,
) -> None:
    # Keep the body read inside the retried attempt: the 200 arrives whole, the error comes later.
    async def cut_mid_body(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100"})
        await response.prepare(request)
        await response.write(b'{"sku": "ket')  # 12 of the 100 bytes promised
        assert request.transport is not None
        request.transport.close()
        return response

    server = await aiohttp_raw_server(cut_mid_body)
    expected = (
        "Response payload is not completed: <ContentLengthError: 400, message='Not enough data to satisfy"
        " content length header (received 12 of 100 bytes).'>"
    )
    async with aiohttp.ClientSession() as session, session.get(server.make_url("/")) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError, match=f"^{re.escape(expected)}$"):
            await response.read()


Reply = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def reply(body: bytes) -> Reply:
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    return handler


def raw(data: bytes) -> Reply:
    """Bytes that are not the HTTP aiohttp can parse, then the connection closed."""

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.write(data)
        request.transport.close()
        return web.Response()

    return handler


async def redirect_to_itself(request: web.BaseRequest) -> web.StreamResponse:
    return web.Response(status=302, headers={"Location": request.path})


NAN = ": nan" if sys.version_info >= (3, 12) else ""  # Python 3.12 added the value to the message
NESTED = "maximum recursion depth exceeded while decoding a JSON array from a unicode string"
SURROGATE = "'utf-8' codec can't encode character '\\ud800' in position 2: surrogates not allowed"
BROKEN = "unusable HTTP (ClientResponseError)"


# Each once escaped the client as a raw error (or, for NaN, passed); that error is now the cause.
@pytest.mark.parametrize(
    ("upstream", "error", "cause"),
    [
        (reply(b"[" * 50_000), f"the body is not JSON ({NESTED})", f"RecursionError: {NESTED}"),
        (
            reply(b'{"price": NaN}'),
            f"the body is not JSON (Out of range float values are not JSON compliant{NAN})",
            "ValueError",
        ),
        (reply(b" " * 65_537), "the body is over 65536 bytes", "NoneType"),
        (reply(b'["\\ud800"]'), f"the body is not JSON ({SURROGATE})", f"UnicodeEncodeError: {SURROGATE}"),
        (redirect_to_itself, "unusable HTTP (TooManyRedirects)", "TooManyRedirects"),
        (raw(b"HTTP/1.1 abc OK\r\n\r\n"), BROKEN, "ClientResponseError: Bad status line"),
        (raw(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000), BROKEN, "ClientResponseError: Got more than 8190 bytes"),
        (
            raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz"),
            BROKEN,
            "ClientResponseError: Invalid character in chunk size",
        ),
    ],
    ids=[
        "nested",
        "nan",
        "over-max-body",
        "surrogate",
        "redirect-loop",
        "bad-status-line",
        "70-kb-header",
        "bad-chunk",
    ],
)
@pytest.mark.asyncio
async def test_a_hostile_upstream_is_a_bad_response_never_a_raw_error(
    aiohttp_raw_server: AiohttpRawServer, upstream: Reply, error: str, cause: str
) -> None:
    server = await aiohttp_raw_server(upstream)
    async with aiohttp.ClientSession() as session:
        client = UpstreamClient(session, str(server.make_url("/api")), max_body=65_536)
        with pytest.raises(BadResponse, match=rf"^GET http://\S+/api/x: {re.escape(error)}$") as caught:
            await client.get_json("/x")
    original = caught.value.__cause__
    assert f"{type(original).__name__}: {getattr(original, 'message', original)}".startswith(cause)


@pytest.mark.asyncio
async def test_a_body_of_exactly_max_body_bytes_is_read_whole(aiohttp_raw_server: AiohttpRawServer) -> None:
    document = list(range(100_000))  # about 600 KB: it arrives in many chunks
    body = json.dumps(document).encode()
    server = await aiohttp_raw_server(reply(body))
    async with aiohttp.ClientSession() as session:
        client = UpstreamClient(session, str(server.make_url("/api")), max_body=len(body))
        assert await client.get_json("/x") == document
