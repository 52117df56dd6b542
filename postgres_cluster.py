"""A PostgreSQL for tests, without pytest: find one, start one, clean up after killed runs.

``postgres_provider.py`` (the pytest plugin) is built on this module; tools use it directly.

- ``Provider`` finds a server once: ``DATABASE_URL``, else the docker compose service,
  else a ``ThrowawayCluster`` started from local ``initdb``/``postgres`` binaries.
- ``probe`` connects to a DSN and, when the server cannot serve the tests, raises
  ``Unusable`` naming the one cause (host and port included) and its fix.
- ``ThrowawayCluster`` records the server's pid before anything can interrupt its start
  and stops it by that pid, so an interrupted start leaves no server running.
- ``remove_abandoned_clusters`` and ``sweep_abandoned`` remove what runs killed outright
  (SIGKILL, a third Ctrl-C) left behind: clusters whose owner process is gone, and test
  databases and roles that no live run holds and nobody is connected to.
- ``install_sigterm_bridge`` makes SIGTERM take Ctrl-C's path (so cleanup runs), then ends
  the process by SIGTERM. It changes a process-wide handler: ``Provider`` installs it
  when it starts a cluster, and only where SIGTERM still has its default action.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg

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
# Where throwaway clusters go instead of the defaults (os.pathsep-separated, first usable wins).
CLUSTER_DIRS_ENV = "COOKBOOK_POSTGRES_TMPDIR"
# How long a server named by DATABASE_URL (and the compose service) may take to answer.
DATABASE_URL_TIMEOUT = 10.0
COMPOSE_TIMEOUT = 2.0

# The names this module gives what it creates on a server, and the only names the sweep drops.
RUN_DATABASE = re.compile(r"cookbook_test_[0-9a-f]{12}_(main|gw[0-9]+)")
TEST_ROLE = re.compile(r"cookbook_role_[0-9a-f]{12}")

FALSE_VALUES = ("", "0", "false", "no", "off")


def unavailable(with_compose: bool = True) -> str:
    """What to do without a server; `make db-up` only where the cookbook's compose file is."""
    compose = f"run `make db-up` (Docker: the compose service on {COMPOSE_HOST}:{COMPOSE_PORT}); "
    docker = compose if with_compose else ""
    return (
        "no PostgreSQL server for the database tests. Fix it one of these ways: "
        "set DATABASE_URL=postgresql://user:password@host:port/dbname; "
        f"{docker}or install the PostgreSQL server binaries (initdb, postgres), e.g. `apt-get install postgresql`."
    )


UNAVAILABLE = unavailable()

T = TypeVar("T")


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server the tests may create databases on."""

    admin_dsn: str
    label: str  # e.g. "throwaway cluster, PostgreSQL 15.18"


class Unusable(Exception):
    """Why a server cannot serve the tests: ``cause`` on one line, and ``fix``."""

    def __init__(self, cause: str, fix: str = "") -> None:
        super().__init__(cause)
        self.cause = cause
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.cause}. Fix: {self.fix}" if self.fix else self.cause


def required_by() -> str | None:
    """Why a missing server must fail the run ("CI=true is set"), or None where it may skip."""
    ci = os.environ.get("CI", "").strip()
    if ci.lower() not in FALSE_VALUES:
        return f"CI={ci} is set"
    if os.environ.get("COOKBOOK_REQUIRE_POSTGRES", "").strip() == "1":
        return "COOKBOOK_REQUIRE_POSTGRES=1 is set"
    return None


def requires_postgres() -> bool:
    """True where a missing server must fail the run instead of skipping."""
    return required_by() is not None


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


def with_database(dsn: str, dbname: str) -> str:
    """The same DSN pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + dbname))


# ---------------------------------------------------------------- probing a DSN


def where(dsn: str) -> str:
    """Where a DSN points, without user or password: "127.0.0.1:5432", "socket /run/postgresql"."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "the address in it"
    query = parse_qs(parts.query)
    address = parts.netloc.rpartition("@")[2]  # the text as written: a bad port must show as it is
    if "host" in query:
        host = query["host"][0]
        address = f"socket {host}" if host.startswith("/") else host
        if "port" in query:
            address += f":{query['port'][0]}"
    return address or "the default address (a local socket, else localhost:5432)"


def _part(dsn: str, name: str) -> str:
    """The user or database a DSN names, "" where it names none or cannot be read."""
    try:
        parts = urlsplit(dsn)
        return (parts.username or "") if name == "user" else parts.path.lstrip("/")
    except ValueError:
        return ""


def _bad_port(dsn: str) -> str | None:
    """The port text of a DSN when it is not a number from 1 to 65535, else None."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return None
    ports = parse_qs(parts.query).get("port", [])
    host = parts.netloc.rpartition("@")[2]
    if not host.endswith("]") and ":" in host:
        ports.append(host.rpartition(":")[2])
    for port in ports:
        if not (port.isdigit() and 1 <= int(port) <= 65535):
            return port
    return None


def diagnose(exc: BaseException, dsn: str, timeout: float) -> Unusable:
    """The one cause behind a failed connection, with its fix."""
    at = where(dsn)
    user, dbname = _part(dsn, "user") or "(default)", _part(dsn, "dbname") or "(default)"
    form = "write it as postgresql://user:password@host:port/dbname"
    if isinstance(exc, asyncpg.ClientConfigurationError | ValueError | OverflowError):
        if port := _bad_port(dsn):
            return Unusable(f"its port {port!r} is not a number from 1 to 65535 ({at})", form)
        return Unusable(f"it is not a PostgreSQL URL ({exc})", form)
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return Unusable(f'the server at {at} refused the password of user "{user}"', "correct the password in the URL")
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return Unusable(f'the server at {at} does not let user "{user}" in ({exc})', "use a user it accepts")
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return Unusable(
            f'there is no database "{dbname}" on the server at {at}',
            "name a database that exists in the URL, e.g. /postgres (the tests create their own next to it)",
        )
    if isinstance(exc, asyncpg.TooManyConnectionsError | asyncpg.CannotConnectNowError):
        return Unusable(f"the server at {at} takes no connections now ({exc})", "try again, or use another server")
    if isinstance(exc, ConnectionRefusedError):
        return Unusable(f"nothing listens at {at} (connection refused)", "start the server, or correct host and port")
    if isinstance(exc, TimeoutError):
        return Unusable(
            f"no answer from {at} within {timeout:g} s (an unreachable host, a firewall, or not PostgreSQL)",
            "correct host and port, or open the way to the server",
        )
    if isinstance(exc, socket.gaierror):
        return Unusable(f"the host of {at} does not resolve ({exc.strerror})", "correct the host name")
    if isinstance(exc, FileNotFoundError):
        return Unusable(f"there is no server socket at {at}", "start the server, or correct the socket directory")
    if isinstance(exc, OSError):
        return Unusable(f"cannot connect to {at} ({exc.strerror or exc})", "correct host and port")
    if isinstance(exc, asyncpg.PostgresError):
        return Unusable(f"the server at {at} refused the connection ({type(exc).__name__}: {exc})", "see its log")
    return Unusable(f"cannot connect to {at} ({type(exc).__name__}: {exc})", form)


def probe(dsn: str, timeout: float) -> str:
    """The server's version ("PostgreSQL 15.18") if ``dsn`` can serve the tests; else raise ``Unusable``."""

    async def check() -> asyncpg.Record | None:
        conn = await asyncpg.connect(dsn, timeout=timeout)
        try:
            return await conn.fetchrow(
                "SELECT current_setting('server_version') AS version, current_user AS name,"
                " (SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user) AS createdb"
            )
        finally:
            await conn.close()

    try:
        row = run_outside_test_loop(check())
    except Exception as exc:
        raise diagnose(exc, dsn, timeout) from None
    assert row is not None
    if not row["createdb"]:
        raise Unusable(
            f'user "{row["name"]}" may not create databases on the server at {where(dsn)}',
            f'run ALTER ROLE "{row["name"]}" CREATEDB as a superuser, or connect as a user who may',
        )
    return f"PostgreSQL {row['version'].split()[0]}"


# ---------------------------------------------------------------- run databases and their keepers


class Keeper:
    """An idle connection whose application_name is ``name``: while it is open, the sweep spares ``name``.

    The connection is held by a thread on a private loop; when the process dies, so does
    the connection, and with it the only mark that ``name`` belongs to a live run.
    """

    def __init__(self, dsn: str, name: str, timeout: float = DATABASE_URL_TIMEOUT) -> None:
        self.name = name
        self._ready = threading.Event()
        self._errors: list[Exception] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, args=(dsn, timeout), name=f"keeper {name}", daemon=True)
        self._thread.start()
        try:
            self._ready.wait()
        except BaseException:
            self.close()
            raise
        if self._errors:
            self._thread.join()
            raise self._errors[0]

    def _run(self, dsn: str, timeout: float) -> None:
        asyncio.run(self._hold(dsn, timeout))

    async def _hold(self, dsn: str, seconds: float) -> None:
        self._loop, self._release = asyncio.get_running_loop(), asyncio.Event()
        try:
            conn = await asyncpg.connect(dsn, timeout=seconds, server_settings={"application_name": self.name})
        except Exception as exc:  # the caller raises it
            self._errors.append(exc)
            return
        finally:
            self._ready.set()
        try:
            await self._release.wait()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), seconds)

    def close(self) -> None:
        """Close the connection (from any thread); the name is fair game for the sweep from then on."""
        self._ready.wait(timeout=DATABASE_URL_TIMEOUT + 5)
        loop, release = self._loop, self._release
        if loop is not None and release is not None:
            with contextlib.suppress(RuntimeError):  # its loop has ended already
                loop.call_soon_threadsafe(release.set)
        self._thread.join(timeout=DATABASE_URL_TIMEOUT + 5)


def new_name(pattern: re.Pattern[str], worker: str = "main") -> str:
    """A fresh name of the form ``pattern`` matches: the sweep may drop it once no live run holds it."""
    prefix = "cookbook_test_" if pattern is RUN_DATABASE else "cookbook_role_"
    name = prefix + uuid.uuid4().hex[:12] + (f"_{worker}" if pattern is RUN_DATABASE else "")
    assert pattern.fullmatch(name), name
    return name


class RunDatabase:
    """A database for this run (one per process), held by a ``Keeper``, created from template0.

    template0 accepts no connections, so a session open on template1 (the default
    template) cannot make CREATE DATABASE fail; extensions installed in template1 are
    not copied. Raises ``Unusable`` with a one-line cause when the server says no.
    """

    def __init__(self, admin_dsn: str, worker: str = "main") -> None:
        self.admin_dsn = admin_dsn
        self.name = new_name(RUN_DATABASE, worker)
        try:
            self.keeper = Keeper(admin_dsn, self.name)
        except Exception as exc:
            raise diagnose(exc, admin_dsn, DATABASE_URL_TIMEOUT) from None
        try:
            query_once(admin_dsn, f'CREATE DATABASE "{self.name}" TEMPLATE template0')
        except BaseException as exc:
            self.keeper.close()
            if isinstance(exc, asyncpg.InsufficientPrivilegeError):
                raise Unusable(
                    f"the server at {where(admin_dsn)} says: {exc}", "give the user CREATEDB, or use one who has it"
                ) from None
            if isinstance(exc, asyncpg.PostgresError):
                raise Unusable(f"CREATE DATABASE failed on the server at {where(admin_dsn)}: {exc}") from None
            if isinstance(exc, Exception):
                raise diagnose(exc, admin_dsn, DATABASE_URL_TIMEOUT) from None
            raise
        self.dsn = with_database(admin_dsn, self.name)

    def drop(self) -> None:
        """Drop the database (closing any connection still open to it), then release the keeper."""
        try:
            query_once(self.admin_dsn, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except Exception as exc:
            raise Unusable(
                f"could not drop {self.name} on the server at {where(self.admin_dsn)} ({type(exc).__name__}: {exc})",
                "the next run drops it",
            ) from None
        finally:
            self.keeper.close()


def sweep_abandoned(admin_dsn: str) -> list[str]:
    """Drop the test databases and roles that runs killed outright left behind; return their names.

    Only names this module gives (``RUN_DATABASE``, ``TEST_ROLE``) are considered, and only
    those with no session at all: neither a connection to the database (or as the role)
    nor a live run's ``Keeper``. A database or role it may not drop is left alone; the
    sweep never fails a run.
    """

    async def sweep() -> list[str]:
        dropped: list[str] = []
        conn = await asyncpg.connect(admin_dsn, timeout=DATABASE_URL_TIMEOUT)
        try:
            databases = await conn.fetch(
                "SELECT datname FROM pg_database d WHERE datname ~ $1 AND NOT EXISTS ("
                " SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname OR a.application_name = d.datname)",
                f"^{RUN_DATABASE.pattern}$",
            )
            for (name,) in databases:
                with contextlib.suppress(asyncpg.PostgresError):  # someone connected meanwhile, or not ours to drop
                    await conn.execute(f'DROP DATABASE "{name}"')
                    dropped.append(name)
            roles = await conn.fetch(
                "SELECT rolname FROM pg_roles r WHERE rolname ~ $1 AND NOT EXISTS ("
                " SELECT 1 FROM pg_stat_activity a WHERE a.usename = r.rolname OR a.application_name = r.rolname)",
                f"^{TEST_ROLE.pattern}$",
            )
            for (name,) in roles:
                with contextlib.suppress(asyncpg.PostgresError):
                    await conn.execute(f'DROP ROLE "{name}"')
                    dropped.append(name)
        finally:
            await conn.close()
        return dropped

    try:
        return run_outside_test_loop(sweep())
    except Exception:  # a sweep that cannot run leaves things as they are
        return []


# ---------------------------------------------------------------- the throwaway cluster


def find_server_bindir() -> Path | None:
    """Return a directory holding both ``initdb`` and ``postgres``, if any."""
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
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return None


SHM = Path("/dev/shm")
SHM_MIN_FREE = 1 << 30  # Docker's default /dev/shm is 64 MB: too small for a cluster


def cluster_parents() -> list[Path]:
    """Where throwaway clusters may live, preferred first; the sweep looks in all of them.

    ``COOKBOOK_POSTGRES_TMPDIR`` when set. Else memory (/dev/shm): the cluster starts about
    three times faster and CREATE DATABASE copies in milliseconds. Then, as root, /tmp
    and /var/tmp (TMPDIR may sit in a 0700 dir the server's user cannot enter), else the
    usual temp dir.
    """
    if configured := os.environ.get(CLUSTER_DIRS_ENV, "").strip():
        return [Path(p) for p in configured.split(os.pathsep) if p]
    parents = [SHM] if SHM.is_dir() else []
    if os.geteuid() == 0:
        return [*parents, Path("/tmp"), Path("/var/tmp")]
    with contextlib.suppress(FileNotFoundError):  # no writable temp dir at all
        parents.append(Path(tempfile.gettempdir()))
    return parents


def make_cluster_dir() -> Path:
    """A new empty directory for a cluster, in the first usable parent; else ``Unusable`` naming each."""
    tried: list[str] = []
    configured = bool(os.environ.get(CLUSTER_DIRS_ENV, "").strip())
    for parent in cluster_parents():
        if parent == SHM and not configured:
            try:
                free = shutil.disk_usage(SHM).free
            except OSError as exc:
                free, problem = 0, exc.strerror
            else:
                problem = f"only {free >> 20} MB free"
            if free < SHM_MIN_FREE or not os.access(SHM, os.W_OK):
                tried.append(f"{parent}: {problem if free < SHM_MIN_FREE else 'not writable'}")
                continue
        try:
            return Path(tempfile.mkdtemp(prefix=CLUSTER_PREFIX, dir=parent))
        except OSError as exc:
            tried.append(f"{parent}: {exc.strerror or exc}")
    raise Unusable(
        f"no directory for a throwaway cluster ({'; '.join(tried) or 'none to try'})",
        f"set {CLUSTER_DIRS_ENV} to a writable directory, or set DATABASE_URL",
    )


class ThrowawayCluster:
    """A private PostgreSQL cluster in a temp dir: socket only, durability off.

    As root the server runs as the ``postgres`` user (or ``nobody``): initdb refuses
    root. The directory lives under a system temp dir, not under pytest's ``tmp_path``,
    whose 0700 parent another user cannot enter. ``password`` switches local logins
    from trust to scram-sha-256 (for tests of a refused password).
    """

    def __init__(self, bindir: Path, password: str | None = None) -> None:
        self.bindir = bindir
        self.password = password
        self.user = _unprivileged_user() if os.geteuid() == 0 else None
        self.server: subprocess.Popen[bytes] | None = None
        self.base = make_cluster_dir()
        try:
            (self.base / "owner.pid").write_text(str(os.getpid()))
            if self.user is not None:
                os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
        except BaseException:
            shutil.rmtree(self.base, ignore_errors=True)
            raise
        self.data = self.base / "data"

    @property
    def dsn(self) -> str:
        """A superuser DSN over the cluster's socket."""
        secret = f":{self.password}" if self.password else ""
        return f"postgresql://postgres{secret}@/postgres?host={self.base}"

    def _as_owner(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def start(self) -> str:
        """Create and start the cluster; return a superuser DSN over its socket.

        On any failure or interrupt (Ctrl-C, SIGTERM) the server is stopped and the
        directory removed before the exception goes on.
        """
        try:
            self._initdb()
            self._launch()
            self._wait_until_ready(timeout=60)
        except BaseException:
            self.stop()
            raise
        return self.dsn

    def _initdb(self) -> None:
        auth = ["--auth", "trust"]
        if self.password:
            pwfile = self.base / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self.user is not None:
                os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
            auth = ["--auth-local", "scram-sha-256", "--auth-host", "scram-sha-256", "--pwfile", str(pwfile)]
        subprocess.run(
            [
                str(self.bindir / "initdb"), "--pgdata", str(self.data), "--username", "postgres", *auth,
                "--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions",
            ],
            check=True, capture_output=True, **self._as_owner(),
        )  # fmt: skip

    def _launch(self) -> None:
        # Held signals: an interrupt between the fork and `self.server = ...` would lose the pid.
        with open(self.base / "server.log", "ab") as log, signals_deferred():
            self.server = subprocess.Popen(
                [
                    str(self.bindir / "postgres"), "-D", str(self.data), "-c", "listen_addresses=",
                    "-c", f"unix_socket_directories={self.base}", "-c", "fsync=off",
                    "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, not the server
                **self._as_owner(),
            )  # fmt: skip
            (self.base / "server.pid").write_text(f"{self.server.pid}\n")

    def _wait_until_ready(self, timeout: float) -> None:
        """Wait until the server says "ready" in its postmaster.pid, as pg_ctl --wait does."""
        assert self.server is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.server.poll() is not None:
                raise RuntimeError(f"the server exited at start (code {self.server.returncode}): {self.log_tail()}")
            try:
                lines = (self.data / "postmaster.pid").read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) > 7 and lines[7].strip() == "ready":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server was not ready within {timeout:g} s: {self.log_tail()}")
            time.sleep(0.02)

    def log_tail(self, lines: int = 3) -> str:
        """The last lines of the server's log, on one line."""
        try:
            text = (self.base / "server.log").read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return " | ".join([line for line in text.splitlines() if line.strip()][-lines:]) or "(empty server log)"

    def stop(self) -> None:
        """Stop the server (immediate shutdown, no checkpoint) and remove every file.

        Safe to call twice, and after a failed or interrupted start. An interrupt that
        arrives meanwhile waits until the server is gone and the files removed.
        """
        with signals_deferred():
            if self.server is not None:
                _end_child(self.server)
                self.server = None
            else:
                stop_by_pid_file(self.base)
            shutil.rmtree(self.base, ignore_errors=True)


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise Unusable("running as root, but there is no 'postgres' or 'nobody' user to run PostgreSQL as")


def _end_child(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGQUIT)  # immediate shutdown: the server ends its children, then itself
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def started_at(pid: int) -> float | None:
    """When process ``pid`` started, in seconds since the epoch (from /proc), or None where unknown."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])
        lines = Path("/proc/stat").read_text().splitlines()
        boot = next(int(line.split()[1]) for line in lines if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie does not count)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        return state not in ("Z", "X")
    return True


def stop_by_pid_file(base: Path, wait: float = 10) -> None:
    """Stop the server of the cluster in ``base`` by the pid it recorded, if that process is still it."""
    for pid_file in (base / "data" / "postmaster.pid", base / "server.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            cmdline = b"" if Path("/proc/self").exists() else str(base).encode()  # no /proc: trust the file
        except OSError:
            continue
        if str(base).encode() not in cmdline or not alive(pid):
            continue  # gone, or the pid now belongs to another process
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if not alive(pid):
                break


def remove_abandoned_clusters() -> list[Path]:
    """Stop and delete the clusters of runs that were killed (their owner pid is gone); return them."""
    removed: list[Path] = []
    for parent in cluster_parents():
        try:
            found = sorted(parent.glob(CLUSTER_PREFIX + "*"))
        except OSError:
            continue
        for base in found:
            try:
                pid = int((base / "owner.pid").read_text())
                written = (base / "owner.pid").stat().st_mtime
            except (OSError, ValueError):
                continue  # being created, or not ours to judge
            started = started_at(pid)
            if alive(pid) and (started is None or started <= written + 2):
                continue  # its run is still going (and not a later process that was given the same pid)
            stop_by_pid_file(base)
            shutil.rmtree(base, ignore_errors=True)
            removed.append(base)
    return removed


# ---------------------------------------------------------------- signals


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the lines inside, then deliver them: state recorded there is never lost.

    Only the main thread receives Python signal handlers, so elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(held):
            signal.raise_signal(signum)


class _Termination:
    received = False
    exit_hook = False


def interrupt(frame: FrameType | None = None) -> None:
    """Take Ctrl-C's path: call the SIGINT handler in place (asyncio.Runner's cancels the running
    task first), or raise KeyboardInterrupt where SIGINT has no Python handler."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _Termination.received = True
    interrupt(frame)


def terminated() -> bool:
    """True once a SIGTERM reached the bridge."""
    return _Termination.received


def install_sigterm_bridge() -> bool:
    """Make SIGTERM take Ctrl-C's path, then end the process by SIGTERM once it exits; True if installed now.

    Installs only in the main thread and only where SIGTERM still has its default action.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _on_sigterm)
    if not _Termination.exit_hook:
        _Termination.exit_hook = True
        atexit.register(_end_as_terminated)  # early, so it runs after the cleanups registered later
    return True


def uninstall_sigterm_bridge() -> None:
    """Give SIGTERM its default action back, if the bridge is still the handler."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _end_as_terminated() -> None:
    # At exit, after every cleanup: a SIGTERM'd process reports SIGTERM, not "interrupted".
    if _Termination.received:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


# ---------------------------------------------------------------- finding a server


class Provider:
    """Finds the server once per process and owns any cluster it started.

    When nothing usable is found, ``headline`` ("none found"), ``short`` (one line for
    each test) and ``failure`` (the cause and its fix) say why; ``fatal`` is True when
    DATABASE_URL was set, which fails the database tests even outside CI.
    """

    def __init__(self, failure: str = UNAVAILABLE) -> None:
        self.server: Server | None = None
        self.resolved = False
        self.cluster: ThrowawayCluster | None = None
        self.headline = "none found"
        self.short = "no PostgreSQL server"
        self.failure = failure
        self.fatal = False

    def resolve(self) -> Server | None:
        if not self.resolved:
            self.resolved = True
            try:
                self.server = self._find()
            except Exception as exc:  # a bug or a surprise here must not crash the run
                self._unusable("none found", f"the search for a server failed ({type(exc).__name__}: {exc})")
        return self.server

    def _unusable(self, headline: str, short: str, failure: str | None = None, fatal: bool = False) -> None:
        self.headline, self.short, self.failure, self.fatal = headline, short, failure or short, fatal

    def _find(self) -> Server | None:
        if url := os.environ.get("DATABASE_URL", "").strip():
            # Asked for explicitly: a server that cannot serve the tests is an error, not a fallback.
            try:
                version = probe(url, DATABASE_URL_TIMEOUT)
            except Unusable as exc:
                self._unusable("DATABASE_URL unusable", f"DATABASE_URL: {exc.cause}", f"{exc}.", fatal=True)
                return None
            sweep_abandoned(url)
            return Server(url, f"DATABASE_URL, {version}")
        with contextlib.suppress(Unusable):
            version = probe(COMPOSE_DSN, COMPOSE_TIMEOUT)
            sweep_abandoned(COMPOSE_DSN)
            return Server(COMPOSE_DSN, f"docker compose service on {COMPOSE_HOST}:{COMPOSE_PORT}, {version}")
        bindir = find_server_bindir()
        if bindir is None:
            return None
        remove_abandoned_clusters()
        install_sigterm_bridge()  # see the module docstring
        try:
            self.cluster = ThrowawayCluster(bindir)
            atexit.register(self.cluster.stop)  # a backstop; close() stops it first
            dsn = self.cluster.start()
            version = probe(dsn, DATABASE_URL_TIMEOUT)
        except (Unusable, OSError, subprocess.CalledProcessError, RuntimeError) as exc:
            self.close()
            if isinstance(exc, subprocess.CalledProcessError):
                lines = [line for line in (exc.stderr or b"").decode(errors="replace").splitlines() if line.strip()]
                cause = f"{Path(str(exc.cmd[0])).name} failed: {' | '.join(lines[-3:]) or exc}"
            else:
                cause = str(exc.cause if isinstance(exc, Unusable) else exc)
            fix = exc.fix if isinstance(exc, Unusable) and exc.fix else "set DATABASE_URL to a server you have"
            failure = f"could not start one from {bindir}: {cause}. Fix: {fix}."
            self._unusable("no throwaway cluster", f"no throwaway cluster: {cause}", failure)
            return None
        return Server(dsn, f"throwaway cluster from {bindir}, {version}")

    def consequence(self) -> str:
        """What happens to the database tests without a server."""
        if self.fatal:
            return "database tests will fail"
        if reason := required_by():
            return f"database tests will fail: {reason}"
        return "database tests will not run"

    def describe(self, short: bool = False) -> str:
        """The `postgres:` line: the server, or what is wrong (the cause and fix unless ``short``)."""
        server = self.resolve()
        if server is not None:
            return f"postgres: {server.label}"
        if short:
            return f"postgres: {self.short} ({self.consequence()})"
        return f"postgres: {self.headline} ({self.consequence()}): {self.failure}"

    def handoff(self) -> dict[str, Any]:
        """What a pytest-xdist worker needs to use the server this process found (see ``adopt``)."""
        self.resolve()
        fields = ("headline", "short", "failure", "fatal")
        server = {"dsn": self.server.admin_dsn, "label": self.server.label} if self.server else {}
        return {**server, **{name: getattr(self, name) for name in fields}}

    def adopt(self, handed: dict[str, Any]) -> None:
        """Take over what another process found; this one starts and sweeps nothing."""
        self.resolved = True
        self.server = Server(handed["dsn"], handed["label"]) if handed.get("dsn") else None
        for name in ("headline", "short", "failure", "fatal"):
            setattr(self, name, handed[name])

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
