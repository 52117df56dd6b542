"""What goes wrong around ASGITransport: a lifespan nobody runs, lost lifespan state, the sync TestClient's loop."""

import importlib.util
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from .notes_api import SCHEMA, create_app

with warnings.catch_warnings():  # Starlette 1.10 warns when its TestClient runs on httpx: see the last test
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

NEVER_USED = "postgresql://never-used"  # no lifespan runs, so nothing ever connects to it
NO_POOL = r"^'State' object has no attribute 'pool'$"
# The request runs on the portal's loop, in a thread, while the test's loop waits for the sync call:
# asyncpg's Future belongs to the pool's loop (the test's), so the request's task fails on it.
OTHER_LOOP = (
    r"^Task <Task pending name='anyio\.from_thread\.BlockingPortal\._call_func' coro=<.*> got Future"
    r" <Future pending cb=\[BaseProtocol\._on_waiter_completed\(\)\]> attached to a different loop$"
)
IN_PROGRESS = r"^cannot perform operation: another operation is in progress$"


@pytest.mark.asyncio
async def test_asgi_transport_alone_never_runs_the_lifespan() -> None:
    app = create_app(NEVER_USED)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        with pytest.raises(AttributeError, match=NO_POOL):  # the route's error reaches the test as it is
            await client.get("/notes")

    quiet = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # what a real server's client sees
    async with httpx.AsyncClient(transport=quiet, base_url="http://test") as client:
        response = await client.get("/notes")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


@pytest.mark.asyncio
async def test_lifespan_state_reaches_requests_only_through_manager_app() -> None:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        yield {"pool": "opened at startup"}  # lifespan state: Starlette copies it into each request's scope

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.pool)

    app = Starlette(routes=[Route("/", home)], lifespan=lifespan)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            with pytest.raises(AttributeError, match=NO_POOL):  # the startup ran, but this request has no state
                await client.get("/")

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as client:
            assert (await client.get("/")).text == "opened at startup"


def test_the_test_client_runs_the_lifespan_only_inside_with() -> None:
    with pytest.raises(AttributeError, match=NO_POOL):
        TestClient(create_app(NEVER_USED)).get("/notes")


def test_inside_with_the_test_client_runs_the_lifespan_on_its_own_loop(postgres_dsn: str) -> None:
    # The fix for a sync test: startup, the requests and shutdown all run on the portal's one loop.
    app = create_app(postgres_dsn)
    with TestClient(app) as client:
        pool: asyncpg.Pool = app.state.pool
        response = client.post("/notes", json={"title": "sync"})
        assert response.status_code == 201
        assert client.get(response.headers["Location"]).json() == response.json()
    assert pool.is_closing()


@pytest_asyncio.fixture
async def pool(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(postgres_dsn, min_size=1, max_size=1) as test_pool:  # on the test's loop
        await test_pool.execute(SCHEMA)
        yield test_pool


@pytest.mark.asyncio
async def test_the_sync_test_client_runs_the_app_on_another_loop_than_the_tests_pool(pool: asyncpg.Pool) -> None:
    app = create_app(NEVER_USED)
    app.state.pool = pool  # the test's pool stands in for the lifespan's, as with ASGITransport
    with pytest.raises(asyncpg.InterfaceError, match=IN_PROGRESS) as raised:
        TestClient(app).get("/notes")  # sync: the test's loop is blocked until it returns

    # The error raised last is the pool's reset of the connection; the loop error comes first, as its context.
    assert pytest.RaisesExc(RuntimeError, match=OTHER_LOOP).matches(raised.value.__context__)
    assert await pool.fetchval("SELECT 1") == 1  # the pool threw the broken connection away


def test_httpx_0_28_has_no_app_argument() -> None:
    with pytest.raises(TypeError, match=r"^AsyncClient\.__init__\(\) got an unexpected keyword argument 'app'$"):
        httpx.AsyncClient(app=create_app(NEVER_USED), base_url="http://test")  # type: ignore[call-arg]


def test_starlette_1_10_warns_when_its_test_client_runs_on_httpx() -> None:
    # The module warns once, when first imported; run its code again, aside from sys.modules, to see it.
    spec = importlib.util.find_spec("starlette.testclient")
    assert spec is not None
    assert spec.loader is not None
    message = r"^Using `httpx` with `starlette\.testclient` is deprecated; install `httpx2` instead\.$"
    with pytest.warns(StarletteDeprecationWarning, match=message):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
