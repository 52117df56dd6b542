"""A server that cannot serve the tests: one message per cause, once, naming host, port and fix.

Before issue 12 a role without CREATEDB gave one 60-line traceback per database test; a
wrong password and a wrong database name both read "does not answer"; a garbage URL, a
bad port and a silent host surfaced as raw ClientConfigurationError, OverflowError and
TimeoutError(). The faults that need a real server run on a cluster of this module's
own, with password logins, so that they cannot disturb the server the other tests share.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import postgres_cluster
from postgres_cluster import (
    TEST_ROLE,
    Keeper,
    RunDatabase,
    ThrowawayCluster,
    Unusable,
    find_server_bindir,
    new_name,
    query_once,
    with_database,
)
from tests.postgres_helpers import QUIET, XDIST, closed_port, with_server_binaries

pytest_plugins = ["pytester"]  # its sandboxes; declared here, not in addopts

PASSWORD = "the-right-one"
SEE_HEADER = "see the `postgres:` line at the top of the run"


@pytest.fixture(scope="module")
def private_server() -> Iterator[str]:
    """The superuser DSN of a cluster of this module's own, where logins need a password."""
    bindir = find_server_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries on this machine")
    cluster = ThrowawayCluster(bindir, password=PASSWORD)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def said_once(result: pytest.RunResult, header: str, per_test: str, errors: int = 2) -> None:
    """The cause in the header, a one-line error per database test, and no traceback anywhere."""
    result.assert_outcomes(errors=errors)
    result.stdout.fnmatch_lines([header])
    result.stdout.fnmatch_lines([per_test])
    text = result.stdout.str()
    assert text.count("Fix:") == 1
    assert text.count(per_test.split(": see the")[0].strip("*")) <= errors + 2  # the error sections and the summary
    for raw in ("Traceback", "does not answer", "required"):
        assert raw not in text
    assert not [line for line in text.splitlines() if line.startswith("E   ")]  # no traceback lines


def test_a_refused_password_is_named_once(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, private_server: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", private_server.replace(f":{PASSWORD}@", ":wrong@"))

    result = sandbox.runpytest(*QUIET)

    said_once(
        result,
        "postgres: DATABASE_URL unusable (database tests will fail): the server at socket /*/cookbook-pg-* refused "
        'the password of user "postgres". Fix: correct the password in the URL.',
        f'DATABASE_URL: the server at socket * refused the password of user "postgres": {SEE_HEADER}',
    )


def test_a_database_that_does_not_exist_is_named_once(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, private_server: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", with_database(private_server, "no_such_database"))

    result = sandbox.runpytest(*QUIET)

    said_once(
        result,
        'postgres: DATABASE_URL unusable (database tests will fail): there is no database "no_such_database" on the '
        "server at socket *. Fix: name a database that exists in the URL, e.g. /postgres *",
        f'DATABASE_URL: there is no database "no_such_database" on the server at socket *: {SEE_HEADER}',
    )


@pytest.fixture
def role_without_createdb(private_server: str) -> Iterator[str]:
    """The DSN of a role that may log in but not create databases (the sweep spares it while held)."""
    role = new_name(TEST_ROLE)
    keeper = Keeper(private_server, role)
    query_once(private_server, f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{PASSWORD}' NOCREATEDB")
    try:
        yield private_server.replace("postgresql://postgres:", f"postgresql://{role}:")
    finally:
        query_once(private_server, f'DROP ROLE IF EXISTS "{role}"')
        keeper.close()


def test_a_role_without_createdb_is_named_once_with_the_grant_that_fixes_it(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, role_without_createdb: str
) -> None:
    # Before the fix: one 60-line traceback per test, ending "permission denied to create database".
    monkeypatch.setenv("DATABASE_URL", role_without_createdb)

    result = sandbox.runpytest(*QUIET)

    said_once(
        result,
        'postgres: DATABASE_URL unusable (database tests will fail): user "cookbook_role_*" may not create databases '
        'on the server at socket *. Fix: run ALTER ROLE "cookbook_role_*" CREATEDB as a superuser, *',
        f'DATABASE_URL: user "cookbook_role_*" may not create databases on the server at socket *: {SEE_HEADER}',
    )


def test_create_database_refused_later_is_one_line_too(role_without_createdb: str) -> None:
    # The check at the start should catch it; should the server still refuse, the reason stays one line.
    with pytest.raises(Unusable) as refused:
        RunDatabase(role_without_createdb)

    assert str(refused.value).startswith("the server at socket ")
    assert "says: permission denied to create database. Fix: give the user CREATEDB" in str(refused.value)


def test_a_session_open_on_template1_does_not_block_the_test_databases(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, private_server: str
) -> None:
    # CREATE DATABASE copies template1 by default, and refuses while anyone is connected to it:
    # 'source database "template1" is being accessed by other users'. The provider copies template0.
    holder = Keeper(with_database(private_server, "template1"), "someone on template1")
    monkeypatch.setenv("DATABASE_URL", private_server)
    try:
        result = sandbox.runpytest(*QUIET)
    finally:
        holder.close()

    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("not a url", 'it is not a PostgreSQL URL (invalid DSN: scheme is expected to be either "postgresql" *)'),
        ("postgresql://u@[bad/db", "it is not a PostgreSQL URL (Invalid IPv6 URL)"),
        ("postgresql://u@127.0.0.1:99999/db", "its port '99999' is not a number from 1 to 65535 (127.0.0.1:99999)"),
        ("postgresql://u@127.0.0.1:port/db", "its port 'port' is not a number from 1 to 65535 (127.0.0.1:port)"),
        ("postgresql://u@no-such-host.invalid/db", "the host of no-such-host.invalid does not resolve (*)"),
    ],
    ids=["garbage", "bad-host", "port-99999", "port-word", "unknown-host"],
)
def test_a_malformed_url_is_named_once_without_a_raw_exception(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, url: str, cause: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)

    result = sandbox.runpytest(*QUIET)

    said_once(
        result,
        f"postgres: DATABASE_URL unusable (database tests will fail): {cause}. Fix: *",
        f"DATABASE_URL: {cause}: {SEE_HEADER}",
    )
    for raw in ("ClientConfigurationError", "OverflowError", "gaierror", "ValueError"):
        assert raw not in result.stdout.str()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port where connections are accepted by the kernel and then never answered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def test_a_server_that_never_answers_is_named_with_host_port_and_wait(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, silent_port: int
) -> None:
    # Before the fix: a bare TimeoutError(), without host or port.
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u@127.0.0.1:{silent_port}/db")
    monkeypatch.setattr(postgres_cluster, "DATABASE_URL_TIMEOUT", 0.2)

    result = sandbox.runpytest(*QUIET)

    cause = f"no answer from 127.0.0.1:{silent_port} within 0.2 s (an unreachable host, a firewall, or not PostgreSQL)"
    said_once(
        result,
        f"postgres: DATABASE_URL unusable (database tests will fail): {cause}. Fix: *",
        f"DATABASE_URL: {cause}: {SEE_HEADER}",
    )


def test_under_xdist_the_workers_repeat_the_controllers_diagnosis_in_one_line(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{closed_port()}/nowhere")

    result = sandbox.runpytest(*QUIET, *XDIST)

    said_once(
        result,
        "postgres: DATABASE_URL unusable (database tests will fail): nothing listens at 127.0.0.1:* *",
        f"DATABASE_URL: nothing listens at 127.0.0.1:* (connection refused): {SEE_HEADER}",
    )


def test_a_cluster_that_cannot_start_is_not_reported_as_none_found(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Before the fix: "postgres: none found" above tests failing for another reason.
    with_server_binaries(monkeypatch)
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(postgres_cluster.CLUSTER_DIRS_ENV, os.fspath(tmp_path / "a-file" / "clusters"))
    monkeypatch.setenv("CI", "true")

    result = sandbox.runpytest(*QUIET)

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "postgres: no throwaway cluster (database tests will fail: CI=true is set): could not start one from *",
            f"no throwaway cluster: no directory for a throwaway cluster (*) (required: CI=true is set): {SEE_HEADER}",
        ]
    )
    result.stdout.no_fnmatch_line("*none found*")
