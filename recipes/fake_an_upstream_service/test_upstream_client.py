"""Inject faults through a real local server: 5xx, 429, slow replies, dropped connections, bad JSON."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpRawServer

from .upstream_client import BadResponse, RetryPolicy, UpstreamClient, UpstreamUnavailable

Reply = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class FakeUpstream:  # plays its script, one reply per request, and records what the client did
    def __init__(self) -> None:
        self.url, self.script = "", list[Reply]()  # the reply to each request, in order
        self.seen, self.pauses = list[str](), list[float]()  # each request's path; each pause, never slept

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.seen.append(request.path)
        return await (self.script.pop(0) if self.script else answer(418))(request)  # one too many: 418

    async def sleep(self, seconds: float) -> None:  # the client's sleep=
        self.pauses.append(seconds)


@pytest_asyncio.fixture
async def upstream(aiohttp_raw_server: AiohttpRawServer) -> FakeUpstream:
    fake = FakeUpstream()
    fake.url = str((await aiohttp_raw_server(fake.handle)).make_url("/api"))  # loopback, closed after the test
    return fake


@pytest_asyncio.fixture
async def client(upstream: FakeUpstream, policy: RetryPolicy) -> AsyncIterator[UpstreamClient]:
    async with aiohttp.ClientSession() as session:
        yield UpstreamClient(session, upstream.url, policy, sleep=upstream.sleep)


@pytest.mark.asyncio
async def test_a_healthy_upstream_is_asked_once(client: UpstreamClient, upstream: FakeUpstream) -> None:
    upstream.script = [answer()]

    assert await client.get_json("/stock/kettle-1") == DOCUMENT
    assert (upstream.seen, upstream.pauses) == (["/api/stock/kettle-1"], [])


@pytest.mark.asyncio
async def test_a_500_then_a_200_is_retried_and_succeeds(client: UpstreamClient, upstream: FakeUpstream) -> None:
    upstream.script = [answer(500), answer()]

    assert await client.get_json("/stock") == DOCUMENT
    assert (len(upstream.seen), upstream.pauses) == (2, [0.1])  # the pause recorded, not slept


@pytest.mark.parametrize(("header", "pause"), [("7", 7.0), ("999999999", 30.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.1)])
@pytest.mark.asyncio
async def test_a_429_waits_as_long_as_retry_after_says(
    client: UpstreamClient, upstream: FakeUpstream, header: str, pause: float
) -> None:
    upstream.script = [answer(429, headers={"Retry-After": header}), answer()]

    assert await client.get_json("/stock") == DOCUMENT
    assert upstream.pauses == [pause]  # never slept: 7 s as asked, 31 years cut to max_wait, a date: the backoff


@pytest.mark.parametrize("policy", [RetryPolicy(attempts=2, timeout=0.05)])  # overrides the policy fixture
@pytest.mark.asyncio
async def test_a_reply_slower_than_the_timeout_every_time_raises_after_n_attempts(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.script = [stall, stall]  # real waiting, kept short: two attempts of 50 ms

    with pytest.raises(UpstreamUnavailable, match=r"gave up after 2 tries: no complete response within 0\.05 s$"):
        await client.get_json("/stock")
    assert len(upstream.seen) == 2


@pytest.fixture
def policy() -> RetryPolicy:
    return RetryPolicy(attempts=3, timeout=1.0, backoff=0.1)


DOCUMENT = {"sku": "kettle-1", "in_stock": 3}  # what a healthy upstream answers


def answer(code: int = 200, body: str = json.dumps(DOCUMENT), headers: dict[str, str] | None = None) -> Reply:
    async def reply(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(status=code, text=body, content_type="application/json", headers=headers)

    return reply


async def stall(request: web.BaseRequest) -> web.StreamResponse:
    return await asyncio.Future[web.StreamResponse]()  # never resolved: only the client's timeout ends it


async def cut_mid_body(request: web.BaseRequest) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "100"})
    await response.prepare(request)
    await response.write(b'{"sku": "ket')  # 12 of the 100 bytes promised
    assert request.transport is not None
    request.transport.close()
    return response


@pytest.mark.asyncio
async def test_persistent_5xx_gives_up_with_doubling_pauses(client: UpstreamClient, upstream: FakeUpstream) -> None:
    upstream.script = [answer(503), answer(502), answer(503)]

    with pytest.raises(UpstreamUnavailable, match=r"/api/stock: gave up after 3 tries: HTTP 503 Service Unavailable$"):
        await client.get_json("/stock")
    assert (len(upstream.seen), upstream.pauses) == (3, [0.1, 0.2])  # no pause after the last attempt


@pytest.mark.asyncio
async def test_a_body_cut_short_is_retried_then_reported(client: UpstreamClient, upstream: FakeUpstream) -> None:
    upstream.script = [cut_mid_body] * 3

    with pytest.raises(UpstreamUnavailable, match="ClientPayloadError: Response payload is not completed") as caught:
        await client.get_json("/stock")
    assert isinstance(caught.value.__cause__, aiohttp.ClientPayloadError)
    assert len(upstream.seen) == 3  # one request per attempt: aiohttp resends nothing once a reply began


@pytest.mark.parametrize(("first", "error"), [(answer(404), ": HTTP 404 Not Found$"), (answer(body="{"), "not JSON")])
@pytest.mark.asyncio
async def test_a_4xx_or_a_body_that_is_not_json_is_not_retried(
    client: UpstreamClient, upstream: FakeUpstream, first: Reply, error: str
) -> None:
    upstream.script = [first, answer()]

    with pytest.raises(BadResponse, match=error):
        await client.get_json("/stock")
    assert (len(upstream.seen), upstream.pauses) == (1, [])


@pytest.mark.asyncio
async def test_the_callers_own_deadline_is_not_retried(client: UpstreamClient, upstream: FakeUpstream) -> None:
    upstream.script = [stall, answer()]

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):  # cancels the call: no slow attempt for the client to retry
            await client.get_json("/stock")
    assert len(upstream.seen) == 1
