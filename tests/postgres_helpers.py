"""What the PostgreSQL provider's tests share: a sandbox project with no server of any kind,
pytest runs in a child process that a test can signal, and views of a server's databases."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import postgres_cluster
from postgres_cluster import query_once

ROOT = Path(__file__).resolve().parent.parent
# Only the plugins the sandboxes use (the provider comes from their conftest.py); the xdist ones add XDIST.
QUIET = ("--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider")
XDIST = ("-p", "xdist.plugin", "-n", "2")
# Settings of the cookbook's own run that must not reach a sandbox.
OUTER_SETTINGS = ("DATABASE_URL", "CI", "COOKBOOK_REQUIRE_POSTGRES", postgres_cluster.CLUSTER_DIRS_ENV)

SANDBOX_TESTS = """
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

def record_database(dsn):
    with open(Path(__file__).parent / "run-databases.txt", "a") as log:
        log.write(urlsplit(dsn).path.lstrip("/") + "\\n")

@pytest.mark.asyncio
async def test_database_is_usable(postgres_dsn):
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute("CREATE TABLE t (x int)")
        assert await conn.fetchval("SELECT current_database()") == urlsplit(postgres_dsn).path.lstrip("/")
    finally:
        await conn.close()

def test_second_user(postgres_dsn):
    assert "cookbook_test_" in postgres_dsn
    record_database(postgres_dsn)
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_sandbox(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    """A project that loads the provider, on a machine with no server of any kind."""
    for name in OUTER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "empty-bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv(postgres_cluster.BINDIR_GLOBS_ENV, "")
    monkeypatch.setattr(postgres_cluster, "COMPOSE_DSN", f"postgresql://cookbook@127.0.0.1:{closed_port()}/cookbook")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    # As a user's conftest would after copying postgres_provider.py and postgres_cluster.py next to it.
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\npytest_plugins = ['postgres_provider']\n")
    pytester.makepyfile(test_db=SANDBOX_TESTS)
    return pytester


def with_server_binaries(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Let a sandbox find the machine's server binaries again; skip where there are none."""
    monkeypatch.delenv(postgres_cluster.BINDIR_GLOBS_ENV, raising=False)
    bindir = postgres_cluster.find_server_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries on this machine")
    monkeypatch.setenv(postgres_cluster.BINDIR_GLOBS_ENV, str(bindir))
    return bindir


def run_databases(sandbox: pytest.Pytester) -> set[str]:
    """The databases the sandbox's tests said they used."""
    return set((sandbox.path / "run-databases.txt").read_text().split())


def database_names(admin_dsn: str) -> set[str]:
    return {row["datname"] for row in query_once(admin_dsn, "SELECT datname FROM pg_database")}


def role_names(admin_dsn: str) -> set[str]:
    return {row["rolname"] for row in query_once(admin_dsn, "SELECT rolname FROM pg_roles")}


def sessions_named(admin_dsn: str, name: str) -> int:
    rows = query_once(admin_dsn, f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{name}'")
    return int(rows[0][0])


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float = 60, proc: subprocess.Popen[str] | None = None
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds or when ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, _ = proc.communicate()
            pytest.fail(f"the run ended (status {proc.returncode}) before {what}:\n{out}")
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g} s for {what}")
        time.sleep(0.02)


# The child enables Ctrl-C itself: a run started in the background of a shell may inherit it ignored.
CHILD = "import signal, sys, pytest; signal.signal(signal.SIGINT, signal.default_int_handler); sys.exit(pytest.main())"


@contextlib.contextmanager
def child_run(sandbox: pytest.Pytester, *args: str, **env: str) -> Iterator[subprocess.Popen[str]]:
    """A pytest run of ``sandbox`` in a child process (its own session), killed if still running at the end."""
    child_env = {
        key: value
        for key, value in os.environ.items()
        if key not in OUTER_SETTINGS and not key.startswith(("PYTEST_", "COV_", "COVERAGE_"))
    }
    child_env.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, *QUIET, *args],
        cwd=sandbox.path, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def announced(path: Path) -> list[str]:
    """The lines a sandbox wrote to ``path`` (written whole, then renamed), or [] before that."""
    try:
        return path.read_text().split()
    except FileNotFoundError:
        return []


ANNOUNCE = """
import os
from pathlib import Path

def announce(name, *values):
    # Written whole, then renamed: the test never reads half a file.
    Path(name + ".tmp").write_text("\\n".join(str(v) for v in values) + "\\n")
    os.replace(name + ".tmp", name)
"""


@contextlib.contextmanager
def private_cluster_parent() -> Iterator[Path]:
    """A directory of its own for the clusters a test makes: no other run's sweep looks there.

    Made where clusters normally go, and open to all, since as root the server runs as
    another user who must reach its files.
    """
    parent = Path(tempfile.mkdtemp(prefix="cookbook-test-clusters-", dir=postgres_cluster.cluster_parents()[0]))
    parent.chmod(0o755)
    try:
        yield parent
    finally:
        for base in parent.iterdir():
            postgres_cluster.stop_by_pid_file(base)
        shutil.rmtree(parent, ignore_errors=True)
