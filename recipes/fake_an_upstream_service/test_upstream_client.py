"""Inject faults through a real local server: 5xx, 429, slow replies, dropped connections, bad JSON."""

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpRawServer

from .upstream_client import BadResponse, RetryPolicy, UpstreamClient, UpstreamUnavailable, retry_after

Reply = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
DOCUMENT = {"sku": "kettle-1", "in_stock": 3}
# Quick enough for tests; the real pauses are recorded by `pauses`, never slept.
POLICY = RetryPolicy(attempts=3, timeout=1.0, backoff=0.1, max_wait=30.0)


# --- The faults, one reply each -------------------------------------------------


def answer(payload: Any, code: int = 200) -> Reply:
    async def reply(request: web.BaseRequest) -> web.StreamResponse:
        return web.json_response(payload, status=code)

    return reply


def status(code: int, headers: dict[str, str] | None = None) -> Reply:
    async def reply(request: web.BaseRequest) -> web.StreamResponse:
        return web.json_response({"error": "injected"}, status=code, headers=headers)

    return reply


async def stall(request: web.BaseRequest) -> web.StreamResponse:
    await asyncio.Event().wait()  # never set: the client's timeout must end this request
    raise AssertionError("unreachable")  # pragma: no cover


async def drop_mid_body(request: web.BaseRequest) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "100"})
    await response.prepare(request)
    await response.write(b'{"sku": "ket')  # 12 of the 100 bytes promised
    assert request.transport is not None
    request.transport.close()
    return response


async def drop_before_reply(request: web.BaseRequest) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


async def malformed_json(request: web.BaseRequest) -> web.StreamResponse:
    return web.Response(text='{"sku": "kettle-1",', content_type="application/json")


# --- The fake upstream and the client under test --------------------------------


@dataclass
class FakeUpstream:
    """A real HTTP server on loopback that plays its script, one reply per request."""

    url: str
    script: list[Reply] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def will(self, *replies: Reply) -> None:
        self.script.extend(replies)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.seen.append(request.path)
        if not self.script:
            return web.Response(status=418, text=f"unscripted request #{len(self.seen)}")
        return await self.script.pop(0)(request)


@dataclass
class Pauses:
    """Stands in for ``asyncio.sleep``: records each pause and returns at once."""

    seconds: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.seconds.append(delay)
        await asyncio.sleep(0)


@pytest_asyncio.fixture
async def upstream(aiohttp_raw_server: AiohttpRawServer) -> FakeUpstream:
    fake = FakeUpstream(url="")
    server = await aiohttp_raw_server(fake.handle)  # closed by the plugin after the test
    fake.url = str(server.make_url("/api"))
    return fake


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


@pytest.fixture
def client(session: aiohttp.ClientSession, upstream: FakeUpstream, pauses: Pauses) -> UpstreamClient:
    return UpstreamClient(session, upstream.url, policy=POLICY, sleep=pauses)


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: every connection is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- Success and retried success ------------------------------------------------


@pytest.mark.asyncio
async def test_a_healthy_upstream_is_asked_once(client: UpstreamClient, upstream: FakeUpstream, pauses: Pauses) -> None:
    upstream.will(answer(DOCUMENT))

    assert await client.get_json("/stock/kettle-1") == DOCUMENT
    assert upstream.seen == ["/api/stock/kettle-1"]
    assert pauses.seconds == []


@pytest.mark.asyncio
async def test_any_2xx_with_json_is_a_success(client: UpstreamClient, upstream: FakeUpstream) -> None:
    upstream.will(answer({"created": True}, code=201))

    assert await client.get_json("/stock") == {"created": True}


@pytest.mark.parametrize(("suffix", "seen"), [("/", "/api/stock"), ("/v2X/", "/api/v2X/stock")])
@pytest.mark.asyncio
async def test_a_trailing_slash_on_the_base_url_is_ignored(
    session: aiohttp.ClientSession, upstream: FakeUpstream, suffix: str, seen: str
) -> None:
    client = UpstreamClient(session, upstream.url + suffix)
    upstream.will(answer(DOCUMENT))

    await client.get_json("/stock")
    assert upstream.seen == [seen]  # only the slash goes: the last segment is kept whole


@pytest.mark.parametrize("code", [500, 502, 503, 504, 429])
@pytest.mark.asyncio
async def test_a_5xx_or_429_then_a_200_is_retried_and_succeeds(
    client: UpstreamClient, upstream: FakeUpstream, pauses: Pauses, code: int
) -> None:
    upstream.will(status(code), answer(DOCUMENT))

    assert await client.get_json("/stock") == DOCUMENT
    assert len(upstream.seen) == 2
    assert pauses.seconds == [0.1]


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("30", 30.0)])  # 30 is max_wait: still honoured
@pytest.mark.asyncio
async def test_a_429_waits_as_long_as_retry_after_says(
    client: UpstreamClient, upstream: FakeUpstream, pauses: Pauses, header: str, seconds: float
) -> None:
    upstream.will(status(429, {"Retry-After": header}), answer(DOCUMENT))

    assert await client.get_json("/stock") == DOCUMENT
    assert pauses.seconds == [seconds]  # the advertised wait, asserted without spending it
    assert len(upstream.seen) == 2


@pytest.mark.asyncio
async def test_a_retry_after_that_is_a_date_falls_back_to_backoff(
    client: UpstreamClient, upstream: FakeUpstream, pauses: Pauses
) -> None:
    upstream.will(status(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), answer(DOCUMENT))

    assert await client.get_json("/stock") == DOCUMENT
    assert pauses.seconds == [0.1]


@pytest.mark.asyncio
async def test_a_connection_dropped_mid_body_is_retried(
    client: UpstreamClient, upstream: FakeUpstream, pauses: Pauses
) -> None:
    upstream.will(drop_mid_body, answer(DOCUMENT))

    assert await client.get_json("/stock") == DOCUMENT
    assert len(upstream.seen) == 2


@pytest.mark.asyncio
async def test_a_reply_slower_than_the_timeout_is_abandoned_and_retried(
    session: aiohttp.ClientSession, upstream: FakeUpstream, pauses: Pauses
) -> None:
    client = UpstreamClient(session, upstream.url, policy=RetryPolicy(timeout=0.1, backoff=0.1), sleep=pauses)
    upstream.will(stall, answer(DOCUMENT))

    assert await client.get_json("/stock") == DOCUMENT
    assert len(upstream.seen) == 2
    assert pauses.seconds == [0.1]


# --- Giving up -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_persistent_5xx_gives_up_after_the_last_attempt_with_doubling_pauses(
    client: UpstreamClient, upstream: FakeUpstream, pauses: Pauses
) -> None:
    upstream.will(status(503), status(502), status(503))

    with pytest.raises(
        UpstreamUnavailable, match=r"gave up after attempt 3 of 3: HTTP 503 Service Unavailable"
    ) as excinfo:
        await client.get_json("/stock")

    assert (excinfo.value.attempts, excinfo.value.status) == (3, 503)
    assert len(upstream.seen) == 3
    assert pauses.seconds == [0.1, 0.2]  # no pause after the last attempt


@pytest.mark.asyncio
async def test_a_reply_slower_than_the_timeout_every_time_raises_after_n_attempts(
    session: aiohttp.ClientSession, upstream: FakeUpstream, pauses: Pauses
) -> None:
    # Real waiting, kept short: two attempts of 50 ms each.
    client = UpstreamClient(session, upstream.url, policy=RetryPolicy(attempts=2, timeout=0.05), sleep=pauses)
    upstream.will(stall, stall)

    with pytest.raises(UpstreamUnavailable, match=r"no complete response within 0\.05 s") as excinfo:
        await client.get_json("/stock")

    assert excinfo.value.attempts == 2
    assert excinfo.value.status is None
    assert isinstance(excinfo.value.__cause__, TimeoutError)
    assert len(upstream.seen) == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [(drop_mid_body, aiohttp.ClientPayloadError), (drop_before_reply, aiohttp.ServerDisconnectedError)],
)
@pytest.mark.asyncio
async def test_a_connection_dropped_every_time_raises_naming_the_error(
    client: UpstreamClient, upstream: FakeUpstream, fault: Reply, error: type[Exception]
) -> None:
    upstream.will(*[fault] * 6)

    with pytest.raises(UpstreamUnavailable, match=error.__name__) as excinfo:
        await client.get_json("/stock")

    assert isinstance(excinfo.value.__cause__, error)
    assert excinfo.value.attempts == 3


@pytest.mark.asyncio
async def test_a_connection_dropped_mid_body_costs_one_request_per_attempt(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.will(drop_mid_body, drop_mid_body, drop_mid_body)

    with pytest.raises(UpstreamUnavailable, match="Response payload is not completed"):
        await client.get_json("/stock")

    assert len(upstream.seen) == 3


@pytest.mark.asyncio
async def test_aiohttp_itself_resends_a_get_once_when_the_server_hangs_up_before_replying(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    # aiohttp retries an idempotent request once on "Server disconnected" (RFC 9112,
    # retrying requests), so each of our attempts costs the upstream two requests.
    upstream.will(*[drop_before_reply] * 6)

    with pytest.raises(UpstreamUnavailable, match="ServerDisconnectedError: Server disconnected"):
        await client.get_json("/stock")

    assert len(upstream.seen) == 6


@pytest.mark.asyncio
async def test_a_refused_connection_is_retried_then_reported(
    session: aiohttp.ClientSession, refused_url: str, pauses: Pauses
) -> None:
    client = UpstreamClient(session, refused_url, policy=POLICY, sleep=pauses)

    with pytest.raises(UpstreamUnavailable, match="ClientConnectorError") as excinfo:
        await client.get_json("/stock")

    assert excinfo.value.attempts == 3
    assert pauses.seconds == [0.1, 0.2]


@pytest.mark.asyncio
async def test_a_retry_after_longer_than_max_wait_gives_up_at_once(
    client: UpstreamClient, upstream: FakeUpstream, pauses: Pauses
) -> None:
    upstream.will(status(429, {"Retry-After": "3600"}))

    with pytest.raises(UpstreamUnavailable, match=r"HTTP 429 .* asks to retry after 3600 s, longer than max_wait") as e:
        await client.get_json("/stock")

    assert (e.value.attempts, e.value.status) == (1, 429)
    assert len(upstream.seen) == 1
    assert pauses.seconds == []


@pytest.mark.asyncio
async def test_backoff_stops_growing_at_max_wait(
    session: aiohttp.ClientSession, upstream: FakeUpstream, pauses: Pauses
) -> None:
    policy = RetryPolicy(attempts=5, backoff=1.0, max_wait=3.0)
    client = UpstreamClient(session, upstream.url, policy=policy, sleep=pauses)
    upstream.will(*[status(500)] * 4, answer(DOCUMENT))

    assert await client.get_json("/stock") == DOCUMENT
    assert pauses.seconds == [1.0, 2.0, 3.0, 3.0]


@pytest.mark.asyncio
async def test_malformed_json_is_not_retried(client: UpstreamClient, upstream: FakeUpstream, pauses: Pauses) -> None:
    upstream.will(malformed_json, answer(DOCUMENT))

    with pytest.raises(BadResponse, match="the body is not valid JSON") as excinfo:
        await client.get_json("/stock")

    assert (excinfo.value.attempts, excinfo.value.status) == (1, 200)
    assert isinstance(excinfo.value.__cause__, ValueError)
    assert len(upstream.seen) == 1


@pytest.mark.asyncio
async def test_a_bad_response_counts_the_attempts_before_it(client: UpstreamClient, upstream: FakeUpstream) -> None:
    upstream.will(status(500), malformed_json)

    with pytest.raises(BadResponse) as excinfo:
        await client.get_json("/stock")

    assert excinfo.value.attempts == 2


@pytest.mark.parametrize("code", [400, 404, 409])
@pytest.mark.asyncio
async def test_a_4xx_other_than_429_is_not_retried(client: UpstreamClient, upstream: FakeUpstream, code: int) -> None:
    upstream.will(status(code), answer(DOCUMENT))

    with pytest.raises(BadResponse, match=f"HTTP {code}") as excinfo:
        await client.get_json("/stock")

    assert (excinfo.value.attempts, excinfo.value.status) == (1, code)
    assert len(upstream.seen) == 1


@pytest.mark.asyncio
async def test_a_3xx_without_a_location_is_a_bad_response(client: UpstreamClient, upstream: FakeUpstream) -> None:
    upstream.will(status(300))

    with pytest.raises(BadResponse, match="HTTP 300 Multiple Choices"):
        await client.get_json("/stock")


@pytest.mark.asyncio
async def test_a_single_attempt_policy_does_not_retry(
    session: aiohttp.ClientSession, upstream: FakeUpstream, pauses: Pauses
) -> None:
    client = UpstreamClient(session, upstream.url, policy=RetryPolicy(attempts=1), sleep=pauses)
    upstream.will(status(500), answer(DOCUMENT))

    with pytest.raises(UpstreamUnavailable, match="gave up after attempt 1 of 1: HTTP 500"):
        await client.get_json("/stock")
    assert pauses.seconds == []


@pytest.mark.asyncio
async def test_the_callers_own_deadline_is_not_retried(session: aiohttp.ClientSession, upstream: FakeUpstream) -> None:
    # asyncio.timeout cancels the call; the client must not mistake that for a slow attempt.
    client = UpstreamClient(session, upstream.url, policy=RetryPolicy(timeout=5.0))
    upstream.will(stall, answer(DOCUMENT))

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await client.get_json("/stock")

    assert len(upstream.seen) == 1


# --- Bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"attempts": 0}, "attempts must be at least 1"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"backoff": -1}, "cannot be negative"),
        ({"max_wait": -1}, "cannot be negative"),
    ],
)
def test_a_policy_that_cannot_work_is_refused(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**settings)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_zero_backoff_and_max_wait_retry_without_pausing(
    session: aiohttp.ClientSession, upstream: FakeUpstream, pauses: Pauses
) -> None:
    client = UpstreamClient(session, upstream.url, policy=RetryPolicy(backoff=0, max_wait=0), sleep=pauses)
    upstream.will(status(503), status(429, {"Retry-After": "0"}), answer(DOCUMENT))

    assert await client.get_json("/stock") == DOCUMENT
    assert pauses.seconds == [0, 0]


@pytest.mark.parametrize("base_url", ["", "127.0.0.1:8080", "ftp://127.0.0.1", "http:///api"])
@pytest.mark.asyncio
async def test_a_base_url_that_is_not_absolute_http_is_refused(session: aiohttp.ClientSession, base_url: str) -> None:
    with pytest.raises(ValueError, match="absolute http"):
        UpstreamClient(session, base_url)


@pytest.mark.asyncio
async def test_an_https_base_url_is_accepted(session: aiohttp.ClientSession) -> None:
    UpstreamClient(session, "https://stock.example.org/api")  # no request is sent until get_json


@pytest.mark.asyncio
async def test_a_path_without_a_leading_slash_is_refused(client: UpstreamClient, upstream: FakeUpstream) -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        await client.get_json("stock")
    assert upstream.seen == []


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), (" 0 ", 0.0), (None, None), ("", None), ("-1", None), ("1.5", None), ("\u00b2", None)],
)
def test_retry_after_reads_only_whole_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after(header) == seconds


# --- Pitfalls --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_unscripted_request_is_visible_as_a_teapot(client: UpstreamClient, upstream: FakeUpstream) -> None:
    # Guards the fake itself: a client that sends more requests than planned fails loudly.
    with pytest.raises(BadResponse, match="HTTP 418"):
        await client.get_json("/stock")


def test_a_retry_loop_that_catches_only_client_error_lets_a_timeout_escape(pytester: pytest.Pytester) -> None:
    # The pitfall: aiohttp's total timeout raises the built-in TimeoutError, which is
    # not an aiohttp.ClientError, so `except aiohttp.ClientError` never retries it.
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
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:hypothesispytest", "--tb=short")

    result.assert_outcomes(passed=1, failed=1)
    # A bare TimeoutError, no message: the summary line names only the test.
    result.stdout.fnmatch_lines(["E   TimeoutError", "FAILED *::test_catches_client_error_only*"])
