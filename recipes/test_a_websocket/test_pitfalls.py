"""A receive without a deadline, receive_str() meeting a close, and aiohttp's exclusive size limit."""

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from .echo_socket import create_app

Client = TestClient[web.Request, web.Application]
WAIT = 2.0
LIMIT = 64 * 1024  # the socket's max_msg_size


@pytest_asyncio.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(create_app(heartbeat=20.0))


@pytest.mark.asyncio
async def test_an_unanswered_receive_with_a_timeout_fails_fast_instead_of_hanging(client: Client) -> None:
    # The doc's bare `await ws.receive()` waits forever for a reply that never
    # comes, and the whole run hangs. With a timeout the test fails at once.
    async with client.ws_connect("/ws") as ws:
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.01)  # nothing was sent, so nothing comes back


@pytest.mark.asyncio
async def test_receive_str_on_a_closed_socket_reports_the_close_code_as_a_type_error(client: Client) -> None:
    # When the server closes instead of replying, receive_str() does not say "closed":
    # it names message type 8 (CLOSE) and the close code.
    async with client.ws_connect("/ws") as ws:
        await ws.send_bytes(b"\x00")
        with pytest.raises(aiohttp.WSMessageTypeError, match=r"^Received message 8:1003 is not WSMsgType\.TEXT$"):
            await ws.receive_str(timeout=WAIT)


@pytest.mark.asyncio
async def test_aiohttp_3_14_also_refuses_a_message_of_exactly_the_limit(client: Client) -> None:
    # aiohttp checks an uncompressed frame with `size >= max_msg_size`: one byte under
    # the limit passes, the limit itself is already too big. If this fails, aiohttp changed it.
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("x" * (LIMIT - 1))
        assert await ws.receive_str(timeout=WAIT) == "echo: " + "x" * (LIMIT - 1)
        await ws.send_str("x" * LIMIT)
        assert (await ws.receive(timeout=WAIT)).type is WSMsgType.CLOSE
        assert ws.close_code == WSCloseCode.MESSAGE_TOO_BIG
