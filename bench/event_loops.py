"""3. Event loops: asyncio's own loop against uvloop, on two of the cookbook's aiohttp apps.

Everything runs through aiohttp's ``TestServer`` and ``TestClient`` on
loopback, as pytest-aiohttp's ``aiohttp_client`` fixture does, one request at
a time as a test sends them:

- the test_a_websocket recipe's echo socket: round trips per second;
- the test_an_aiohttp_app recipe's notes app: requests per second (a POST of a
  note, then a GET of it);
- the per-test cost of the fixture itself: app, server and client started, one
  request, everything closed again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop
from aiohttp.test_utils import TestClient, TestServer

from recipes.test_a_websocket.echo_socket import create_app as create_echo_app
from recipes.test_an_aiohttp_app.notes_app import create_app as create_notes_app

from .harness import Comparison, Row, Target, alternate, times

LoopFactory = Callable[[], asyncio.AbstractEventLoop]
LOOPS: dict[str, LoopFactory] = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


async def websocket_round_trips(count: int) -> float:
    """Round trips per second over one websocket."""
    async with TestClient(TestServer(create_echo_app(heartbeat=30.0))) as client, client.ws_connect("/ws") as ws:
        for _ in range(50):  # warm-up
            await ws.send_str("hello")
            await ws.receive_str()
        started = time.perf_counter()
        for n in range(count):
            await ws.send_str(f"message {n}")
            assert await ws.receive_str() == f"echo: message {n}"
        return count / (time.perf_counter() - started)


async def notes_requests(count: int) -> float:
    """Requests per second: ``count`` // 2 notes created and read back, one request at a time."""
    async with TestClient(TestServer(create_notes_app())) as client:
        for _ in range(20):  # warm-up
            (await client.get("/notes")).release()
        started = time.perf_counter()
        for n in range(count // 2):
            created = await client.post("/notes", json={"title": f"note {n}", "body": "text"})
            assert created.status == 201
            location = created.headers["Location"]
            created.release()
            fetched = await client.get(location)
            assert (await fetched.json())["title"] == f"note {n}"
        return (count // 2 * 2) / (time.perf_counter() - started)


async def client_fixture_cost(count: int) -> float:
    """Milliseconds per test for what ``aiohttp_client`` does: build, start, one request, close."""
    started = time.perf_counter()
    for _ in range(count):
        async with TestClient(TestServer(create_notes_app())) as client:
            response = await client.get("/notes")
            assert response.status == 200
            response.release()
    return (time.perf_counter() - started) / count * 1000


def on_loop(factory: LoopFactory, work: Callable[[], Coroutine[Any, Any, float]]) -> Callable[[], float]:
    """A contender for ``alternate``: ``work`` on a fresh loop from ``factory``."""

    def run() -> float:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(work())

    return run


def compare(rounds: int, scale: float) -> Comparison:
    ws_count, http_count, setup_count = int(3000 * scale), int(2000 * scale), int(60 * scale)
    comparison = Comparison(
        key="3",
        slug="event_loops",
        title="Event loops: asyncio vs uvloop, through aiohttp's TestServer/TestClient on loopback",
        scenario=(
            f"per sample: {ws_count} websocket round trips (recipes/test_a_websocket), {http_count} HTTP requests "
            f"(recipes/test_an_aiohttp_app), {setup_count} aiohttp_client-style set-ups, each on a fresh loop"
        ),
        reference="websocket echo, asyncio",
    )
    workloads: dict[str, tuple[Callable[[], Coroutine[Any, Any, float]], str, bool]] = {
        "websocket echo": (lambda: websocket_round_trips(ws_count), "round trips/s", True),
        "notes app over HTTP": (lambda: notes_requests(http_count), "requests/s", True),
        "client fixture set-up + teardown": (lambda: client_fixture_cost(setup_count), "ms/test", False),
    }
    contenders: dict[str, Callable[[], float]] = {}
    for workload, (work, _, _) in workloads.items():
        for loop_name, factory in LOOPS.items():
            contenders[f"{workload}, {loop_name}"] = on_loop(factory, work)
    for contender in contenders.values():  # warm-up
        contender()
    samples = alternate(rounds, contenders, "event loops")

    for workload, (_, unit, higher) in workloads.items():
        base = Row(f"{workload}, asyncio", unit, samples[f"{workload}, asyncio"], higher_is_better=higher)
        fast = Row(f"{workload}, uvloop", unit, samples[f"{workload}, uvloop"], higher_is_better=higher)
        base.versus = fast.versus = base.name  # each workload's asyncio row is its reference
        comparison.rows += [base, fast]
    comparison.reference = comparison.rows[0].name
    ws_speedup = comparison.rows[1].speedup_over(comparison.rows[0])
    http_speedup = comparison.rows[3].speedup_over(comparison.rows[2])
    comparison.targets.append(
        Target(
            "none set, measured: uvloop's rate / asyncio's",
            f"websocket {times(ws_speedup)}, HTTP {times(http_speedup)}",
            None,
        )
    )
    comparison.notes.append(
        "client and server share one loop and one CPU here, and the recipes' tests do little I/O each, "
        "so a test suite gains much less from uvloop than a busy server does"
    )
    return comparison
