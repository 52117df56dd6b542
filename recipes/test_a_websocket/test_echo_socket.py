"""Talk to a WebSocket handler through ``client.ws_connect``; every receive has a deadline."""

import asyncio
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from yarl import URL

from .echo_socket import CONNECTIONS, create_app

Client = TestClient[web.Request, web.Application]
Socket = aiohttp.ClientWebSocketResponse[bool]
MAX_BYTES = 256  # small, so an oversized message is cheap to send
WAIT = 2.0  # generous bound on every receive: only a broken server ever reaches it


@pytest_asyncio.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    """A fresh app on loopback; pytest-aiohttp closes open sockets, client and server at teardown."""
    return await aiohttp_client(create_app(max_message_bytes=MAX_BYTES))


async def wait_until_idle(client: Client) -> None:
    """Wait, bounded, until the server has no open socket left (every handler has returned)."""
    async with asyncio.timeout(WAIT):
        await client.app[CONNECTIONS].idle.wait()


async def command(ws: Socket, payload: dict[str, Any]) -> Any:
    await ws.send_json(payload)
    return await ws.receive_json(timeout=WAIT)


@pytest.mark.asyncio
async def test_plain_text_is_echoed_with_a_prefix(client: Client) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("Hello")
        message = await ws.receive(timeout=WAIT)

    assert message.type is WSMsgType.TEXT
    assert message.data == "echo: Hello"


@pytest.mark.asyncio
async def test_json_commands_round_trip(client: Client) -> None:
    async with client.ws_connect("/ws") as ws:
        assert await command(ws, {"cmd": "ping"}) == {"reply": "pong"}
        assert await command(ws, {"cmd": "sum", "values": [1, 2.5, -3]}) == {"sum": 0.5}
        assert await command(ws, {"cmd": "sum", "values": []}) == {"sum": 0}
        await ws.send_str('  {"cmd": "ping"}')  # whitespace before the brace: still a command
        assert await ws.receive_json(timeout=WAIT) == {"reply": "pong"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"cmd": ', "invalid JSON"),
        ('{"cmd": "dance"}', "unknown command 'dance'"),
        ('{"cmd": 7}', "a command is an object with a 'cmd' string"),
        ('{"verb": "ping"}', "a command is an object with a 'cmd' string"),
        ('{"cmd": "sum"}', "sum needs 'values': a list of numbers"),
        ('{"cmd": "sum", "values": [1, "2"]}', "sum needs 'values': a list of numbers"),
        ('{"cmd": "sum", "values": [true]}', "sum needs 'values': a list of numbers"),
        ('{"cmd": "sum", "values": 3}', "sum needs 'values': a list of numbers"),
    ],
)
@pytest.mark.asyncio
async def test_a_bad_command_gets_an_error_and_the_socket_stays_open(client: Client, text: str, error: str) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_str(text)
        assert await ws.receive_json(timeout=WAIT) == {"error": error}
        assert await command(ws, {"cmd": "ping"}) == {"reply": "pong"}


@pytest.mark.asyncio
async def test_text_that_does_not_start_with_a_brace_is_never_parsed(client: Client) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_str('["cmd", "close"]')
        assert await ws.receive_str(timeout=WAIT) == 'echo: ["cmd", "close"]'


@pytest.mark.asyncio
async def test_close_command_closes_with_1000(client: Client) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_json({"cmd": "close"})
        message = await ws.receive(timeout=WAIT)

        assert (message.type, message.data, message.extra) == (WSMsgType.CLOSE, WSCloseCode.OK, "bye")
        assert ws.close_code == WSCloseCode.OK
    await wait_until_idle(client)


@pytest.mark.asyncio
async def test_binary_frame_closes_with_1003(client: Client) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_bytes(b"\x00\x01")
        message = await ws.receive(timeout=WAIT)

        assert message.type is WSMsgType.CLOSE
        assert message.extra == "only text messages are accepted"
        assert ws.close_code == WSCloseCode.UNSUPPORTED_DATA  # 1003
    await wait_until_idle(client)


@pytest.mark.asyncio
async def test_oversized_message_closes_with_1009(client: Client) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("x" * (MAX_BYTES + 1))
        message = await ws.receive(timeout=WAIT)

        assert message.type is WSMsgType.CLOSE
        assert ws.close_code == WSCloseCode.MESSAGE_TOO_BIG  # 1009
    await wait_until_idle(client)


@pytest.mark.asyncio
async def test_message_just_under_the_limit_is_accepted(client: Client) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("x" * (MAX_BYTES - 1))
        assert await ws.receive_str(timeout=WAIT) == "echo: " + "x" * (MAX_BYTES - 1)


@pytest.mark.asyncio
async def test_aiohttp_3_14_also_refuses_a_message_of_exactly_the_limit(client: Client) -> None:
    # aiohttp checks an uncompressed frame with `size >= max_msg_size`, so the
    # limit itself is already too big. If this starts failing, aiohttp changed it.
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("x" * MAX_BYTES)
        assert (await ws.receive(timeout=WAIT)).type is WSMsgType.CLOSE
        assert ws.close_code == WSCloseCode.MESSAGE_TOO_BIG


@pytest.mark.asyncio
async def test_two_clients_see_only_their_own_replies(client: Client) -> None:
    async with client.ws_connect("/ws") as alice, client.ws_connect("/ws") as bob:
        await alice.send_str("from alice")
        await bob.send_str("from bob")
        await alice.send_json({"cmd": "ping"})
        await bob.send_json({"cmd": "sum", "values": [2, 2]})

        # If replies leaked across sockets, these sequences would be mixed up.
        assert await alice.receive_str(timeout=WAIT) == "echo: from alice"
        assert await alice.receive_json(timeout=WAIT) == {"reply": "pong"}
        assert await bob.receive_str(timeout=WAIT) == "echo: from bob"
        assert await bob.receive_json(timeout=WAIT) == {"sum": 4}
        assert len(client.app[CONNECTIONS].open) == 2

        await alice.close()
        assert await command(bob, {"cmd": "ping"}) == {"reply": "pong"}  # bob is unaffected
    await wait_until_idle(client)


async def vanish_mid_conversation(app: web.Application, url: URL) -> None:
    """Talk to the socket at ``url``, then drop the connection without a close frame; the handler must finish."""
    connections = app[CONNECTIONS]
    # A session of its own, standing in for a client process that dies mid-conversation.
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(url)
        assert await command(ws, {"cmd": "ping"}) == {"reply": "pong"}  # the handler is now in its loop
        assert not connections.idle.is_set()
    finally:
        await session.close()  # drops the TCP connection; no WebSocket close frame is sent

    async with asyncio.timeout(WAIT):
        await connections.idle.wait()  # the handler noticed, left its loop and unregistered
    assert connections.open == set()


@pytest.mark.asyncio
async def test_handler_finishes_when_the_client_vanishes_under_the_test_server(client: Client) -> None:
    # aiohttp's TestServer cancels the handler task when its connection is lost.
    await vanish_mid_conversation(client.app, client.make_url("/ws"))


@pytest.mark.asyncio
async def test_handler_finishes_when_the_client_vanishes_under_a_production_runner() -> None:
    # AppRunner, like web.run_app, does NOT cancel handlers (handler_cancellation=False):
    # here the socket's receive reports the lost connection and the loop ends.
    app = create_app()
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        await vanish_mid_conversation(app, URL.build(scheme="http", host=host, port=port, path="/ws"))
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_heartbeat_drops_a_client_that_stops_answering_pings(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(heartbeat=0.01))  # 10 ms of real waiting
    # autoping=False: this client shows the server's pings to the test instead of answering them.
    async with client.ws_connect("/ws", autoping=False) as ws:
        assert (await ws.receive(timeout=WAIT)).type is WSMsgType.PING
        assert (await ws.receive(timeout=WAIT)).type is WSMsgType.CLOSED
        assert ws.close_code == WSCloseCode.ABNORMAL_CLOSURE
    await wait_until_idle(client)


@pytest.mark.asyncio
async def test_server_shutdown_closes_open_sockets_with_1001(client: Client) -> None:
    async with client.ws_connect("/ws") as ws:
        await client.app.shutdown()  # runs the app's on_shutdown callbacks
        message = await ws.receive(timeout=WAIT)

        assert (message.type, message.extra) == (WSMsgType.CLOSE, "server shutting down")
        assert ws.close_code == WSCloseCode.GOING_AWAY  # 1001
    await wait_until_idle(client)


@pytest.mark.parametrize("settings", [{"max_message_bytes": 0}, {"heartbeat": 0}, {"heartbeat": -1.0}])
def test_invalid_limits_are_refused(settings: dict[str, Any]) -> None:
    # 0 would silently mean "no limit" to aiohttp, so it is refused like any other nonsense.
    with pytest.raises(ValueError, match="need max_message_bytes >= 1 and heartbeat > 0"):
        create_app(**settings)


@pytest.mark.asyncio
async def test_the_smallest_limit_of_one_byte_is_accepted_and_enforced(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(max_message_bytes=1))
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("")  # 0 bytes: under the limit
        assert await ws.receive_str(timeout=WAIT) == "echo: "
        await ws.send_str("x")  # 1 byte: the limit itself is too big
        assert (await ws.receive(timeout=WAIT)).type is WSMsgType.CLOSE
        assert ws.close_code == WSCloseCode.MESSAGE_TOO_BIG


@pytest.mark.asyncio
async def test_an_unanswered_receive_with_a_timeout_fails_fast_instead_of_hanging(client: Client) -> None:
    # The pitfall: the doc's bare `await ws.receive()` waits forever for a reply
    # that never comes. With a timeout the test fails with TimeoutError.
    async with client.ws_connect("/ws") as ws:
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.01)  # nothing was sent, so nothing comes back


@pytest.mark.asyncio
async def test_receive_str_on_a_closed_socket_reports_the_close_code_as_a_type_error(client: Client) -> None:
    # The pitfall: when the server closes instead of replying, receive_str() does
    # not say "closed"; it raises a TypeError naming message type 8 (CLOSE) and the code.
    async with client.ws_connect("/ws") as ws:
        await ws.send_bytes(b"\x00")
        with pytest.raises(aiohttp.WSMessageTypeError, match=r"^Received message 8:1003 is not WSMsgType\.TEXT$"):
            await ws.receive_str(timeout=WAIT)
