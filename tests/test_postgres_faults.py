"""The PostgreSQL provider under faults: interrupts at bad moments, runs killed outright, no usable temp dir.

Each test reproduces one fault found by fault injection (issue 12). Runs that must be
signalled run in a child process that announces, through a file, the moment it is
blocked; the signal is sent only then, so no test depends on timing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import postgres_cluster
from postgres_cluster import (
    RUN_DATABASE,
    TEST_ROLE,
    Keeper,
    alive,
    new_name,
    query_once,
    remove_abandoned_clusters,
    sweep_abandoned,
    with_database,
)
from tests.postgres_helpers import (
    ANNOUNCE,
    QUIET,
    ROOT,
    XDIST,
    announced,
    child_run,
    closed_port,
    database_names,
    private_cluster_parent,
    role_names,
    sessions_named,
    wait_until,
    with_server_binaries,
)

pytest_plugins = ["pytester"]  # its sandboxes; declared here, not in addopts

INTERRUPTED = {signal.SIGINT: 2, signal.SIGTERM: -signal.SIGTERM}  # pytest's "Interrupted"; death by SIGTERM


@pytest.fixture
def cluster_parent() -> Iterator[Path]:
    with private_cluster_parent() as parent:
        yield parent


def sql(admin_dsn: str, statement: str) -> None:
    query_once(admin_dsn, statement)


# ---------------------------------------------------------------- a stray server


START_HELD = (
    ANNOUNCE
    + """
import sys
import time

sys.path.insert(0, {root!r})
import postgres_cluster

postgres_cluster.COMPOSE_DSN = "postgresql://cookbook@127.0.0.1:{port}/cookbook"


wait_until_ready = postgres_cluster.ThrowawayCluster._wait_until_ready


def ready_then_held(self, timeout):
    wait_until_ready(self, timeout)
    announce("ready", self.base, self.server.pid)
    time.sleep(600)  # the signal lands here: the server runs, start() has not returned


postgres_cluster.ThrowawayCluster._wait_until_ready = ready_then_held
pytest_plugins = ["postgres_provider"]
"""
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_while_the_cluster_starts_leaves_no_server_running(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, cluster_parent: Path, signum: signal.Signals
) -> None:
    # Before the fix: the state that says "started" was set once pg_ctl returned; an interrupt
    # before that deleted the directory and left the server running.
    with_server_binaries(monkeypatch)
    sandbox.makeconftest(START_HELD.format(root=str(ROOT), port=closed_port()))
    env = {postgres_cluster.CLUSTER_DIRS_ENV: str(cluster_parent), "PATH": os.environ["PATH"]}

    with child_run(sandbox, "test_db.py", **env) as run:
        wait_until(lambda: bool(announced(sandbox.path / "ready")), "the server was ready", proc=run)
        base, pid = announced(sandbox.path / "ready")
        run.send_signal(signum)
        out, _ = run.communicate(timeout=30)
    stray = alive(int(pid))
    if stray:
        os.kill(int(pid), signal.SIGKILL)

    assert run.returncode == INTERRUPTED[signum], out
    assert "KeyboardInterrupt" in out
    assert not stray, "the server outlived the run"
    assert not Path(base).exists()
    assert list(cluster_parent.iterdir()) == []


# ---------------------------------------------------------------- a swallowed signal

FINALISER = (
    ANNOUNCE
    + """
import time
from urllib.parse import urlsplit


class Trap:
    def __del__(self):
        announce("blocked", "in a finaliser")
        time.sleep(600)  # the signal lands here, where Python prints "Exception ignored" and goes on


def test_interrupted(postgres_dsn):
    announce("database", urlsplit(postgres_dsn).path.lstrip("/"))
    Trap()  # dropped at once: __del__ runs here
    time.sleep(600)  # a swallowed interrupt would leave the run blocked here


def test_after_the_interrupt():
    announce("ran-after-the-interrupt", "yes")
"""
)

TEST_BODY = (
    ANNOUNCE
    + """
import time
from urllib.parse import urlsplit


def test_interrupted(postgres_dsn):
    announce("database", urlsplit(postgres_dsn).path.lstrip("/"))
    announce("blocked", "in a test")
    time.sleep(600)  # the signal lands here


def test_after_the_interrupt():
    announce("ran-after-the-interrupt", "yes")
"""
)

ASYNC_TEST_BODY = (
    ANNOUNCE
    + """
import asyncio
from urllib.parse import urlsplit

import pytest


@pytest.mark.asyncio
async def test_interrupted(postgres_dsn):
    announce("database", urlsplit(postgres_dsn).path.lstrip("/"))
    announce("blocked", "in an async test")
    await asyncio.sleep(600)  # the signal lands here; asyncio.Runner's SIGINT handler cancels the task


def test_after_the_interrupt():
    announce("ran-after-the-interrupt", "yes")
"""
)


@pytest.mark.parametrize(
    ("signum", "module"),
    [
        (signal.SIGINT, FINALISER), (signal.SIGTERM, FINALISER),
        (signal.SIGTERM, TEST_BODY), (signal.SIGTERM, ASYNC_TEST_BODY),
    ],
    ids=["SIGINT-in-a-finaliser", "SIGTERM-in-a-finaliser", "SIGTERM-in-a-test", "SIGTERM-in-an-async-test"],
)  # fmt: skip
def test_an_interrupt_ends_the_run_after_cleanup_wherever_it_lands(
    sandbox: pytest.Pytester, admin_dsn: str, signum: signal.Signals, module: str
) -> None:
    # Before the fix: in a finaliser, 1 interrupt in 8 was printed as "Exception ignored" and the
    # run went on; a SIGTERM'd run exited with status 2, as if interrupted by Ctrl-C.
    sandbox.makepyfile(test_signalled=module)

    with child_run(sandbox, "test_signalled.py", DATABASE_URL=admin_dsn) as run:
        wait_until(lambda: bool(announced(sandbox.path / "blocked")), "the test was blocked", proc=run)
        run.send_signal(signum)
        out, _ = run.communicate(timeout=30)

    assert run.returncode == INTERRUPTED[signum], out
    assert not (sandbox.path / "ran-after-the-interrupt").exists()
    assert "Exception ignored" not in out
    (database,) = announced(sandbox.path / "database")
    assert database not in database_names(admin_dsn)  # cleanup ran before the end


# ---------------------------------------------------------------- leftovers on your own server

KILLED = (
    ANNOUNCE
    + """
import time
from urllib.parse import urlsplit


def test_killed(postgres_dsn):
    announce("database", urlsplit(postgres_dsn).path.lstrip("/"))
    time.sleep(600)  # SIGKILL lands here: no cleanup can run
"""
)


def test_the_next_run_drops_what_a_killed_run_left_and_nothing_else(sandbox: pytest.Pytester, admin_dsn: str) -> None:
    # Before the fix: a run killed by SIGKILL, SIGTERM or a third Ctrl-C left its database for good.
    sandbox.makepyfile(test_killed=KILLED)
    foreign, live_database = f"keep_{uuid.uuid4().hex[:12]}", new_name(RUN_DATABASE)
    abandoned_role, live_role = new_name(TEST_ROLE), new_name(TEST_ROLE)
    keepers = [Keeper(admin_dsn, live_database), Keeper(admin_dsn, live_role)]  # another run, alive
    for statement in (
        f'CREATE DATABASE "{foreign}"', f'CREATE DATABASE "{live_database}"',
        f'CREATE ROLE "{abandoned_role}"', f'CREATE ROLE "{live_role}"',
    ):  # fmt: skip
        sql(admin_dsn, statement)
    try:
        with child_run(sandbox, "test_killed.py", DATABASE_URL=admin_dsn) as run:
            wait_until(lambda: bool(announced(sandbox.path / "database")), "the run made its database", proc=run)
            (killed,) = announced(sandbox.path / "database")
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=60)
        wait_until(lambda: sessions_named(admin_dsn, killed) == 0, "the server noticed the killed run")

        result = run_inline(sandbox, admin_dsn)  # the next run

        result.assert_outcomes(passed=2)
        databases, roles = database_names(admin_dsn), role_names(admin_dsn)
        assert killed not in databases
        assert abandoned_role not in roles
        assert {foreign, live_database} <= databases  # not the cookbook's; another live run's
        assert live_role in roles
    finally:
        for keeper in keepers:
            keeper.close()
        for statement in (
            f'DROP DATABASE IF EXISTS "{foreign}"', f'DROP DATABASE IF EXISTS "{live_database}"',
            f'DROP ROLE IF EXISTS "{abandoned_role}"', f'DROP ROLE IF EXISTS "{live_role}"',
        ):  # fmt: skip
            sql(admin_dsn, statement)


def run_inline(sandbox: pytest.Pytester, admin_dsn: str) -> pytest.RunResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", admin_dsn)
        return sandbox.runpytest(*QUIET, "test_db.py")


def test_the_sweep_spares_live_runs_open_databases_and_names_not_the_cookbooks(admin_dsn: str) -> None:
    abandoned_database, live_database, busy_database = (new_name(RUN_DATABASE) for _ in range(3))
    abandoned_role, live_role = new_name(TEST_ROLE), new_name(TEST_ROLE)
    foreign_database, foreign_role = f"cookbook_test_{uuid.uuid4().hex[:8]}", f"not_cookbook_{uuid.uuid4().hex[:8]}"
    created = [abandoned_database, live_database, busy_database, foreign_database]
    for name in created:
        sql(admin_dsn, f'CREATE DATABASE "{name}"')
    for name in (abandoned_role, live_role, foreign_role):
        sql(admin_dsn, f'CREATE ROLE "{name}"')
    keepers = [Keeper(admin_dsn, live_database), Keeper(admin_dsn, live_role)]
    keepers.append(Keeper(with_database(admin_dsn, busy_database), "someone looking at it"))
    try:
        dropped = sweep_abandoned(admin_dsn)

        databases, roles = database_names(admin_dsn), role_names(admin_dsn)
        assert abandoned_database not in databases
        assert abandoned_role not in roles
        assert {live_database, busy_database, foreign_database} <= databases
        assert {live_role, foreign_role} <= roles
        assert not set(dropped) & {live_database, busy_database, foreign_database, live_role, foreign_role}
    finally:
        for keeper in keepers:
            keeper.close()
        for name in created:
            sql(admin_dsn, f'DROP DATABASE IF EXISTS "{name}"')
        for name in (abandoned_role, live_role, foreign_role):
            sql(admin_dsn, f'DROP ROLE IF EXISTS "{name}"')


KILLED_WITH_ITS_CLUSTER = """
import os, sys
sys.path.insert(0, {root!r})
import postgres_cluster

cluster = postgres_cluster.ThrowawayCluster(postgres_cluster.find_server_bindir())
cluster.start()
print(cluster.base, cluster.server.pid, flush=True)
os.kill(os.getpid(), 9)  # killed outright: no cleanup of any kind runs
"""


def test_a_killed_runs_cluster_is_stopped_by_its_pid_file_and_removed(
    monkeypatch: pytest.MonkeyPatch, cluster_parent: Path
) -> None:
    with_server_binaries(monkeypatch)
    monkeypatch.setenv(postgres_cluster.CLUSTER_DIRS_ENV, str(cluster_parent))
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WITH_ITS_CLUSTER.format(root=str(ROOT))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    base, pid = killed.stdout.split()

    assert remove_abandoned_clusters() == [Path(base)]

    assert not alive(int(pid))
    assert not Path(base).exists()


# ---------------------------------------------------------------- no usable temp dir


def unusable_dir(tmp_path: Path) -> str:
    """A directory that cannot be created: its parent is a file. Stands in for a read-only temp dir
    (mkdtemp fails there with an OSError the same way), for root as for anyone."""
    (tmp_path / "a-file").write_text("")
    return str(tmp_path / "a-file" / "clusters")


def test_no_usable_cluster_dir_is_one_message_not_a_crash(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Before the fix: INTERNALERROR ... Read-only file system, exit status 3, no test run.
    with_server_binaries(monkeypatch)
    monkeypatch.setenv(postgres_cluster.CLUSTER_DIRS_ENV, unusable_dir(tmp_path))

    result = sandbox.runpytest("-ra", *QUIET)

    result.assert_outcomes(skipped=2)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "postgres: no throwaway cluster (database tests will not run): could not start one from *: "
            "no directory for a throwaway cluster (*a-file/clusters: Not a directory). "
            "Fix: set COOKBOOK_POSTGRES_TMPDIR to a writable directory, or set DATABASE_URL.",
            "SKIPPED [[]1[]] *: no throwaway cluster: no directory for a throwaway cluster *: see the `postgres:`*",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_under_xdist_a_run_without_database_tests_survives_an_unusable_cluster_dir(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Before the fix: the same crash, although no selected test needed a server.
    with_server_binaries(monkeypatch)
    monkeypatch.setenv(postgres_cluster.CLUSTER_DIRS_ENV, unusable_dir(tmp_path))
    sandbox.makepyfile(test_plain="def test_needs_no_server():\n    pass\n")

    result = sandbox.runpytest(*QUIET, *XDIST, "test_plain.py")

    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_the_cluster_goes_to_the_next_dir_when_the_first_is_unusable(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cluster_parent: Path
) -> None:
    with_server_binaries(monkeypatch)
    monkeypatch.setenv(postgres_cluster.CLUSTER_DIRS_ENV, f"{unusable_dir(tmp_path)}{os.pathsep}{cluster_parent}")
    sandbox.makepyfile(
        test_where="""
        def test_where_the_cluster_is(postgres_admin_dsn):
            with open("admin-dsn.txt", "w") as out:
                out.write(postgres_admin_dsn)
        """
    )

    result = sandbox.runpytest(*QUIET)

    result.assert_outcomes(passed=3)
    assert f"?host={cluster_parent}/cookbook-pg-" in (sandbox.path / "admin-dsn.txt").read_text()
    assert list(cluster_parent.iterdir()) == []  # and removed at the end


def test_a_small_dev_shm_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgres_cluster.CLUSTER_DIRS_ENV, raising=False)
    monkeypatch.setattr(postgres_cluster, "SHM_MIN_FREE", 1 << 62)

    base = postgres_cluster.make_cluster_dir()
    try:
        assert base.parent != postgres_cluster.SHM
    finally:
        base.rmdir()
