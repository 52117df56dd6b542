"""The PostgreSQL provider: each way of finding a server, and each way of not finding one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import postgres_cluster
from postgres_cluster import remove_abandoned_clusters, with_database
from tests.postgres_helpers import (
    QUIET,
    XDIST,
    closed_port,
    database_names,
    private_cluster_parent,
    run_databases,
)

pytest_plugins = ["pytester"]  # its sandboxes; declared here, not in addopts


def test_no_server_skips_with_one_message_naming_the_fixes(sandbox: pytest.Pytester) -> None:
    result = sandbox.runpytest("-ra", *QUIET)

    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "postgres: none found (database tests will not run): no PostgreSQL server for the database tests. "
            "Fix it one of these ways: set DATABASE_URL=*; or install the PostgreSQL server binaries*",
            "SKIPPED [[]1[]] *: no PostgreSQL server: see the `postgres:` line at the top of the run",
        ]
    )
    assert result.stdout.str().count("Fix it one of these ways") == 1  # once per run, not per test
    result.stdout.no_fnmatch_line("*make db-up*")  # this project has no compose file to start


def test_make_db_up_is_named_where_the_compose_file_is(sandbox: pytest.Pytester) -> None:
    (sandbox.path / "docker-compose.yml").write_text("services: {}\n")

    result = sandbox.runpytest(*QUIET)

    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["postgres: none found *; run `make db-up` (Docker: *; or install the PostgreSQL*"])


def test_not_postgres_runs_the_rest_without_looking_for_a_server(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server that does not answer would fail every database test: none may be looked for.
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{closed_port()}/nowhere")
    sandbox.makepyfile(test_plain="def test_needs_no_server():\n    pass\n")

    result = sandbox.runpytest("-m", "not postgres", *QUIET)

    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.no_fnmatch_line("postgres: *")


def test_the_postgres_marker_selects_the_database_tests(sandbox: pytest.Pytester) -> None:
    sandbox.makepyfile(test_plain="def test_needs_no_server():\n    pass\n")

    sandbox.runpytest("-m", "postgres", *QUIET).assert_outcomes(skipped=2, deselected=1)


@pytest.mark.parametrize(("name", "value"), [("CI", "true"), ("COOKBOOK_REQUIRE_POSTGRES", "1")])
def test_no_server_fails_under_ci_naming_the_setting_that_requires_one(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    result = sandbox.runpytest("-ra", *QUIET)

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            f"postgres: none found (database tests will fail: {name}={value} is set): no PostgreSQL server *",
            f"no PostgreSQL server (required: {name}={value} is set): see the `postgres:` line at the top of the run",
        ]
    )
    assert result.stdout.str().count("Fix it one of these ways") == 1


@pytest.mark.parametrize("ci", ["", "0", "false", "off", "No"])
def test_ci_set_to_a_false_value_still_skips(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)

    sandbox.runpytest(*QUIET).assert_outcomes(skipped=2)


def test_database_url_that_does_not_answer_fails_even_outside_ci(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{closed_port()}/nowhere")

    result = sandbox.runpytest(*QUIET)

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "postgres: DATABASE_URL unusable (database tests will fail): nothing listens at 127.0.0.1:* "
            "(connection refused). Fix: start the server, or correct host and port.",
            "DATABASE_URL: nothing listens at 127.0.0.1:* (connection refused): see the `postgres:` line at the top*",
        ]
    )
    result.stdout.no_fnmatch_line("*required*")  # neither CI nor COOKBOOK_REQUIRE_POSTGRES is set


def test_database_url_is_used_and_its_run_database_dropped(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, admin_dsn: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", admin_dsn)

    result = sandbox.runpytest(*QUIET)

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["postgres: DATABASE_URL, PostgreSQL *"])
    used = run_databases(sandbox)
    assert len(used) == 1
    assert not used & database_names(admin_dsn)


def test_xdist_workers_share_one_server_and_get_a_database_each(
    sandbox: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, admin_dsn: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", admin_dsn)
    sandbox.makepyfile(
        test_workers="""
        import os
        from test_db import record_database

        def test_database_name_carries_the_worker_id(postgres_dsn):
            assert os.environ["PYTEST_XDIST_WORKER"] in postgres_dsn
            record_database(postgres_dsn)
        """
    )

    result = sandbox.runpytest(*QUIET, *XDIST)

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["postgres: DATABASE_URL, PostgreSQL *"])
    used = run_databases(sandbox)
    assert used
    assert all(name.endswith(("_gw0", "_gw1")) for name in used)
    assert not used & database_names(admin_dsn)


def test_with_database_replaces_only_the_database_name() -> None:
    assert (
        with_database("postgresql://u:p@h:5/old?sslmode=disable", "new") == "postgresql://u:p@h:5/new?sslmode=disable"
    )
    assert with_database("postgresql://postgres@/postgres?host=/tmp/x", "db") == "postgresql://postgres@/db?host=/tmp/x"


def test_server_binaries_are_found_through_the_configured_globs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in ("14", "16"):
        bindir = tmp_path / "pg" / version / "bin"
        bindir.mkdir(parents=True)
        for tool in ("initdb", "postgres"):
            (bindir / tool).touch()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.setenv(postgres_cluster.BINDIR_GLOBS_ENV, f"{tmp_path}/pg/*/bin")

    assert postgres_cluster.find_server_bindir() == tmp_path / "pg" / "16" / "bin"

    monkeypatch.setenv(postgres_cluster.BINDIR_GLOBS_ENV, "")
    assert postgres_cluster.find_server_bindir() is None


def test_clusters_of_killed_runs_are_removed_and_live_ones_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    with private_cluster_parent() as parent:  # no other run's sweep looks there
        monkeypatch.setenv(postgres_cluster.CLUSTER_DIRS_ENV, str(parent))
        abandoned, live, reused = (postgres_cluster.make_cluster_dir() for _ in range(3))
        (abandoned / "owner.pid").write_text(str(dead_pid))
        (live / "owner.pid").write_text(str(os.getpid()))
        # Its owner's pid now belongs to a process that started later (this one, here).
        (reused / "owner.pid").write_text(str(os.getpid()))
        os.utime(reused / "owner.pid", (0, 0))

        removed = remove_abandoned_clusters()  # no pid file of a server: none is stopped

        assert abandoned in removed
        assert not abandoned.exists()
        assert live.exists()
        if postgres_cluster.started_at(os.getpid()) is not None:  # where /proc tells when a process started
            assert not reused.exists()
