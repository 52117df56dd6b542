"""Talk to a WebSocket handler through ``client.ws_connect``; every receive has a deadline."""

import asyncio

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from yarl import URL

from .echo_socket import CONNECTIONS, create_app

Client = TestClient[web.Request, web.Application]
WAIT = 2.0  # bound on every receive: only a broken server ever reaches it
LIMIT = 64 * 1024  # the socket's max_msg_size


@pytest_asyncio.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(create_app(heartbeat=20.0))  # sockets, client, server: closed at teardown


@pytest.mark.asyncio
async def test_plain_text_is_echoed_with_a_prefix(client: Client) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("Hello")
        message = await ws.receive(timeout=WAIT)

    assert message.type is WSMsgType.TEXT
    assert message.data == "echo: Hello"


async def wait_until_idle(app: web.Application) -> None:
    """Wait, bounded, until every handler has returned and unregistered its socket."""
    async with asyncio.timeout(WAIT):
        await app[CONNECTIONS].idle.wait()
    assert app[CONNECTIONS].open == set()


@pytest.mark.asyncio
async def test_close_command_closes_with_1000(client: Client) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_json({"cmd": "close"})
        message = await ws.receive(timeout=WAIT)

        assert (message.type, message.data, message.extra) == (WSMsgType.CLOSE, WSCloseCode.OK, "bye")
        assert ws.close_code == WSCloseCode.OK  # known only once the CLOSE message has arrived
    await wait_until_idle(client.app)


@pytest.mark.asyncio
async def test_two_clients_see_only_their_own_replies(client: Client) -> None:
    async with client.ws_connect("/ws") as alice, client.ws_connect("/ws") as bob:
        await alice.send_str("from alice")
        await bob.send_str("from bob")
        await alice.send_json({"cmd": "ping"})

        # Had replies leaked across sockets, these sequences would be mixed up.
        assert await alice.receive_str(timeout=WAIT) == "echo: from alice"
        assert await alice.receive_json(timeout=WAIT) == {"reply": "pong"}
        assert await bob.receive_str(timeout=WAIT) == "echo: from bob"
        assert len(client.app[CONNECTIONS].open) == 2

        await alice.close()
        await bob.send_str("still here")
        assert await bob.receive_str(timeout=WAIT) == "echo: still here"
    await wait_until_idle(client.app)


async def vanish_mid_conversation(app: web.Application, url: URL) -> None:
    """Talk to the socket, then drop the TCP connection without a close frame: the handler must finish."""
    async with aiohttp.ClientSession() as session:  # its own session: a client process that dies
        ws = await session.ws_connect(url)
        await ws.send_json({"cmd": "ping"})
        assert await ws.receive_json(timeout=WAIT) == {"reply": "pong"}  # the handler is in its loop
        assert not app[CONNECTIONS].idle.is_set()
    await wait_until_idle(app)  # closing the session dropped the connection, no close frame sent


@pytest.mark.asyncio
async def test_handler_finishes_when_the_client_vanishes_under_the_test_server(client: Client) -> None:
    # aiohttp's TestServer cancels the handler task when its connection is lost.
    await vanish_mid_conversation(client.app, client.make_url("/ws"))


@pytest.mark.asyncio
async def test_handler_finishes_when_the_client_vanishes_under_a_production_runner() -> None:
    # AppRunner, like web.run_app, does NOT cancel handlers: the socket's receive ends the loop instead.
    app = create_app(heartbeat=20.0)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        await vanish_mid_conversation(app, URL.build(scheme="http", host=host, port=port, path="/ws"))
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(  # the last two: nested past the recursion limit; more digits than int() reads
    "text", ['{"cmd": ', '{"cmd": "dance"}', '{"verb": "ping"}', '{"a": ' + "[" * 50_000, '{"n": ' + "9" * 5000 + "}"]
)
@pytest.mark.asyncio
async def test_a_bad_command_gets_an_error_and_the_socket_stays_open(client: Client, text: str) -> None:
    async with client.ws_connect("/ws") as ws:
        await ws.send_str(text)
        assert await ws.receive_json(timeout=WAIT) == {"error": 'a command is a JSON object such as {"cmd": "ping"}'}
        await ws.send_str('["cmd", "close"]')  # no leading brace: echoed, never parsed
        assert await ws.receive_str(timeout=WAIT) == 'echo: ["cmd", "close"]'


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [(b"\x00\x01", WSCloseCode.UNSUPPORTED_DATA, "only text messages are accepted"), ("x" * LIMIT, 1009, "")],
    ids=["binary", "too-big"],
)
@pytest.mark.asyncio
async def test_a_binary_frame_closes_with_1003_and_a_message_too_big_with_1009(
    client: Client, frame: bytes | str, code: int, reason: str
) -> None:
    async with client.ws_connect("/ws") as ws:
        await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        message = await ws.receive(timeout=WAIT)

        assert (message.type, message.extra) == (WSMsgType.CLOSE, reason)
        assert ws.close_code == code
    await wait_until_idle(client.app)


@pytest.mark.asyncio
async def test_heartbeat_drops_a_client_that_stops_answering_pings(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(heartbeat=0.01))  # 10 ms of real waiting
    async with client.ws_connect("/ws", autoping=False) as ws:  # pings reach the test, unanswered
        assert (await ws.receive(timeout=WAIT)).type is WSMsgType.PING
        assert (await ws.receive(timeout=WAIT)).type is WSMsgType.CLOSED
        assert ws.close_code == WSCloseCode.ABNORMAL_CLOSURE  # 1006
    await wait_until_idle(client.app)


@pytest.mark.asyncio
async def test_server_shutdown_closes_open_sockets_with_1001(client: Client) -> None:
    async with client.ws_connect("/ws") as ws:
        await client.app.shutdown()  # runs the app's on_shutdown callbacks
        message = await ws.receive(timeout=WAIT)

        assert (message.type, message.extra) == (WSMsgType.CLOSE, "server shutting down")
        assert ws.close_code == WSCloseCode.GOING_AWAY  # 1001
    await wait_until_idle(client.app)
