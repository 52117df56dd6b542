"""A real PostgreSQL for the database recipes, with zero set-up.

The server is found in this order:

1. ``DATABASE_URL``, if set (CI services, your own server);
2. the ``docker compose`` service of ``docker-compose.yml``, if it answers;
3. a throwaway cluster started from local server binaries (``initdb``/``pg_ctl``);
4. otherwise the database tests skip with one message naming the three fixes,
   except under CI (``CI`` set) or ``COOKBOOK_REQUIRE_POSTGRES=1``, where they fail.

Tests never touch existing data: each pytest process (each xdist worker) gets
a database created for the run, dropped at the end. Load this file as a pytest
plugin (``pytest_plugins = ["postgres_provider"]``) and request ``postgres_dsn``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

# docker-compose.yml publishes exactly this; a meta-test keeps the two in step.
COMPOSE_HOST = "127.0.0.1"
COMPOSE_PORT = 54329
COMPOSE_USER = "cookbook"
COMPOSE_PASSWORD = "cookbook"
COMPOSE_DB = "cookbook"
COMPOSE_DSN = f"postgresql://{COMPOSE_USER}:{COMPOSE_PASSWORD}@{COMPOSE_HOST}:{COMPOSE_PORT}/{COMPOSE_DB}"

CLUSTER_PREFIX = "cookbook-pg-"
# Where to look for server binaries beyond PATH (os.pathsep-separated globs).
BINDIR_GLOBS_ENV = "COOKBOOK_POSTGRES_BINDIRS"
DEFAULT_BINDIR_GLOBS = "/usr/lib/postgresql/*/bin"
# The xdist controller finds the server once and hands it to its workers.
HANDOFF_DSN_ENV = "COOKBOOK_POSTGRES_ADMIN_DSN"
HANDOFF_LABEL_ENV = "COOKBOOK_POSTGRES_LABEL"


def unavailable(with_compose: bool = True) -> str:
    """What to do without a server; `make db-up` only where the cookbook's compose file is."""
    compose = f"run `make db-up` (Docker: the compose service on {COMPOSE_HOST}:{COMPOSE_PORT}); "
    docker = compose if with_compose else ""
    return (
        "no PostgreSQL server for the database tests. Fix it one of these ways: "
        "set DATABASE_URL=postgresql://user:password@host:port/dbname; "
        f"{docker}or install the PostgreSQL server binaries (initdb, pg_ctl), e.g. `apt-get install postgresql`."
    )


UNAVAILABLE = unavailable()
SKIPPED = "no PostgreSQL server: see the `postgres:` line at the top of the run"

T = TypeVar("T")


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server the tests may create databases on."""

    admin_dsn: str
    label: str  # e.g. "throwaway cluster, PostgreSQL 15.18"


def run_outside_test_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run admin work on a private loop in a thread, never on a test's loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def query_once(dsn: str, sql: str, *, connect_timeout: float = 60) -> list[asyncpg.Record]:
    """Connect, run one statement, close: on a private loop, never on a test's loop."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn, timeout=connect_timeout)
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()

    return run_outside_test_loop(run())


def server_version(dsn: str, connect_timeout: float) -> str:
    """ "PostgreSQL 15.18" for the server behind ``dsn``."""
    version: str = query_once(dsn, "SHOW server_version", connect_timeout=connect_timeout)[0][0]
    return f"PostgreSQL {version.split()[0]}"


def requires_postgres() -> bool:
    """True where a missing server must fail the run instead of skipping."""
    ci = os.environ.get("CI", "").strip().lower()
    return ci not in ("", "0", "false", "no") or os.environ.get("COOKBOOK_REQUIRE_POSTGRES") == "1"


def find_server_bindir() -> Path | None:
    """Return a directory holding both ``initdb`` and ``pg_ctl``, if any."""
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    globs = os.environ.get(BINDIR_GLOBS_ENV, DEFAULT_BINDIR_GLOBS)
    for pattern in filter(None, globs.split(os.pathsep)):
        root = Path(pattern).anchor or "."
        found = Path(root).glob(pattern.removeprefix(root))
        # Newest major version first: /usr/lib/postgresql/17/bin before 15.
        candidates += sorted(found, key=lambda p: [int(s) for s in p.parts if s.isdigit()], reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


SHM = Path("/dev/shm")
SHM_MIN_FREE = 1 << 30  # Docker's default /dev/shm is 64 MB: too small for a cluster


def cluster_parents() -> list[Path]:
    """Where throwaway clusters may live, preferred first.

    Memory (/dev/shm) when it is large enough: the cluster starts about three
    times faster and CREATE DATABASE ... TEMPLATE copies in milliseconds. Else
    /tmp when root (TMPDIR may sit in a 0700 dir the server's user cannot
    enter), or the usual temp dir.
    """
    fallback = Path("/tmp") if os.geteuid() == 0 else Path(tempfile.gettempdir())
    return [SHM, fallback] if SHM.is_dir() and os.access(SHM, os.W_OK) else [fallback]


def clusters_parent() -> Path:
    """The directory a new throwaway cluster goes in."""
    parents = cluster_parents()
    if parents[0] == SHM and shutil.disk_usage(SHM).free < SHM_MIN_FREE:
        return parents[-1]
    return parents[0]


class ThrowawayCluster:
    """A private PostgreSQL cluster in a temp dir: socket only, durability off.

    As root the server runs as the ``postgres`` user (or ``nobody``): initdb
    refuses root. The directory lives under the system temp dir, not under
    pytest's ``tmp_path``, whose 0700 parent another user cannot enter.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix=CLUSTER_PREFIX, dir=clusters_parent()))
        (self.base / "owner.pid").write_text(str(os.getpid()))
        self.data = self.base / "data"
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self.user = _unprivileged_user()
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
        self.started = False

    def _run(self, *args: str) -> None:
        owner = (self.user.pw_uid, self.user.pw_gid) if self.user else None
        run_as(owner, *args)

    def start(self) -> str:
        """Create and start the cluster; return a superuser DSN over its socket."""
        self._run(
            str(self.bindir / "initdb"), "--pgdata", str(self.data), "--username", "postgres",
            "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        server_options = (
            f"-c listen_addresses='' -c unix_socket_directories={self.base} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "--pgdata", str(self.data), "--log", str(self.base / "server.log"),
            "--options", server_options, "--wait", "--timeout", "60", "start",
        )  # fmt: skip
        self.started = True
        return f"postgresql://postgres@/postgres?host={self.base}"

    def stop(self) -> None:
        """Stop the server (fast, no checkpoint) and remove every file."""
        if self.started:
            self.started = False
            with contextlib.suppress(subprocess.CalledProcessError):  # already gone: still remove the files
                self._run(str(self.bindir / "pg_ctl"), "--pgdata", str(self.data), "--mode", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


def run_as(owner: tuple[int, int] | None, *args: str, check: bool = True) -> None:
    """Run a server command, as ``owner`` (uid, gid) when given: only root can switch."""
    uid, gid = owner if owner else (None, None)
    subprocess.run(
        args, check=check, capture_output=True, user=uid, group=gid, extra_groups=None if owner is None else []
    )


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, but there is no 'postgres' or 'nobody' user to run PostgreSQL as")


def remove_abandoned_clusters(bindir: Path) -> None:
    """Stop and delete clusters left by runs that were killed (their owner pid is gone)."""
    for base in (found for parent in cluster_parents() for found in parent.glob(CLUSTER_PREFIX + "*")):
        try:
            os.kill(int((base / "owner.pid").read_text()), 0)
            continue  # its run is still going
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue  # not ours to judge
        if (base / "data" / "postmaster.pid").exists():
            stat = base.stat()
            owner = (stat.st_uid, stat.st_gid) if os.geteuid() == 0 else None
            pg_ctl = str(bindir / "pg_ctl")
            run_as(owner, pg_ctl, "--pgdata", str(base / "data"), "--mode", "immediate", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)


class Provider:
    """Finds the server once per pytest process and owns any cluster it started."""

    def __init__(self, failure: str = UNAVAILABLE) -> None:
        self.server: Server | None = None
        self.resolved = False
        self.cluster: ThrowawayCluster | None = None
        self.failure = failure
        self.fatal = False  # a broken DATABASE_URL fails even outside CI

    def resolve(self) -> Server | None:
        if not self.resolved:
            self.resolved = True
            self.server = self._find()
        return self.server

    def _find(self) -> Server | None:
        handed_dsn = os.environ.get(HANDOFF_DSN_ENV)
        if HANDOFF_LABEL_ENV in os.environ:  # we are an xdist worker
            label = os.environ[HANDOFF_LABEL_ENV]
            if handed_dsn:
                return Server(handed_dsn, label)
            self.failure, self.fatal = label, os.environ.get("DATABASE_URL") is not None
            return None
        if url := os.environ.get("DATABASE_URL"):
            # Asked for explicitly: a server that does not answer is an error, not a fallback.
            try:
                version = server_version(url, connect_timeout=10)
            except Exception as exc:
                self.failure = f"DATABASE_URL is set but its server does not answer: {exc!r}"
                self.fatal = True
                return None
            return Server(url, f"DATABASE_URL, {version}")
        try:
            version = server_version(COMPOSE_DSN, connect_timeout=2)
            return Server(COMPOSE_DSN, f"docker compose service on {COMPOSE_HOST}:{COMPOSE_PORT}, {version}")
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pass
        bindir = find_server_bindir()
        if bindir is None:
            return None
        remove_abandoned_clusters(bindir)
        self.cluster = ThrowawayCluster(bindir)
        atexit.register(self.cluster.stop)  # a backstop; unconfigure stops it first
        _stop_gracefully_on_sigterm()
        try:
            dsn = self.cluster.start()
            version = server_version(dsn, connect_timeout=10)
        except (subprocess.CalledProcessError, OSError, asyncpg.PostgresError) as exc:
            log = self.cluster.base / "server.log"
            detail = log.read_text()[-2000:] if log.exists() else getattr(exc, "stderr", b"").decode()
            self.cluster.stop()
            self.failure = f"could not start a throwaway cluster from {bindir}: {exc}\n{detail}"
            return None
        return Server(dsn, f"throwaway cluster from {bindir}, {version}")

    def describe(self) -> str:
        server = self.resolve()
        if server is not None:
            return f"postgres: {server.label}"
        if self.fatal:
            return "postgres: DATABASE_URL does not answer (database tests will fail)"
        if requires_postgres():
            return "postgres: none found (database tests will fail)"
        return f"postgres: none found (database tests will not run): {self.failure}"

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()


def _stop_gracefully_on_sigterm() -> None:
    # pytest cleans up on KeyboardInterrupt; make `kill` (SIGTERM) take that path too.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, interrupt)


provider_key = pytest.StashKey[Provider]()


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and getattr(config.option, "dist", "no") != "no"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", 'postgres: uses postgres_dsn; pytest -m "not postgres" runs the rest, no server')
    has_compose = (config.rootpath / "docker-compose.yml").is_file()
    provider = config.stash[provider_key] = Provider(unavailable(with_compose=has_compose))
    if _is_xdist_controller(config):
        # Workers start after this and inherit the environment: one server for all of them.
        server = provider.resolve()
        os.environ[HANDOFF_DSN_ENV] = server.admin_dsn if server else ""
        os.environ[HANDOFF_LABEL_ENV] = server.label if server else provider.failure


def pytest_unconfigure(config: pytest.Config) -> None:
    provider = config.stash.get(provider_key, None)
    if provider is not None:
        provider.close()


def pytest_report_header(config: pytest.Config) -> str | None:
    if _is_xdist_controller(config):
        return config.stash[provider_key].describe()
    return None


def _needs_postgres(item: pytest.Item) -> bool:
    return "postgres_dsn" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)  # before -m deselects: `-m "not postgres"` must see the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _needs_postgres(item):
            item.add_marker(pytest.mark.postgres)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # After deselection: start a server only when a selected test needs one. With none to
    # be had, mark those tests skipped, so that -ra folds them into one line per file.
    config, items = session.config, session.items
    needing = [item for item in items if _needs_postgres(item)]
    provider = config.stash[provider_key]
    skipping = needing and provider.resolve() is None and not (provider.fatal or requires_postgres())
    if skipping:  # the full message once, here; a short reason on each skip
        for item in needing:
            item.add_marker(pytest.mark.skip(reason=SKIPPED))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and needing:
        reporter.write_line(provider.describe())


def with_database(dsn: str, dbname: str) -> str:
    """The same DSN pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + dbname))


@pytest.fixture(scope="session")
def postgres_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    """DSN of a database created for this run (one per xdist worker), dropped at the end."""
    provider = request.config.stash[provider_key]
    server = provider.resolve()
    if server is None:
        if provider.fatal:  # DATABASE_URL was asked for by name: no fallback, no skip
            pytest.fail(provider.failure, pytrace=False)
        if requires_postgres():
            pytest.fail(f"{provider.failure} (required: CI or COOKBOOK_REQUIRE_POSTGRES=1 is set)", pytrace=False)
        pytest.skip(provider.failure)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    dbname = f"cookbook_test_{uuid.uuid4().hex[:10]}_{worker}"
    query_once(server.admin_dsn, f'CREATE DATABASE "{dbname}"')
    try:
        yield with_database(server.admin_dsn, dbname)
    finally:
        query_once(server.admin_dsn, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_admin_dsn(request: pytest.FixtureRequest, postgres_dsn: str) -> str:
    """DSN of the server's own database, the same for every xdist worker.

    For recipes that create databases of their own or coordinate workers with
    advisory locks (which are per database). Never write test data here.
    """
    server = request.config.stash[provider_key].resolve()
    assert server is not None  # postgres_dsn has skipped or failed otherwise
    return server.admin_dsn
