"""The run report: one line per recipe, after pytest's own failure report."""

from pathlib import Path

import pytest

from tests.postgres_helpers import QUIET, closed_port

pytest_plugins = ["pytester"]  # its sandboxes; declared here, not in addopts

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest(
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\npytest_plugins = ['postgres_provider', 'run_report']\n"
    )
    recipe = pytester.mkdir("recipes") / "await_a_coroutine"
    recipe.mkdir()
    (recipe / "test_one.py").write_text("def test_ok():\n    pass\n\ndef test_broken():\n    assert 1 == 2\n")
    other = pytester.path / "recipes" / "some_recipe"
    other.mkdir()
    (other / "test_two.py").write_text(
        "import pytest\n\n@pytest.mark.skip\ndef test_skipped():\n    pass\n\n"
        "@pytest.mark.xfail(strict=True)\ndef test_known_bug():\n    assert 1 == 2\n"
    )
    return pytester


def test_each_recipe_gets_a_line_with_its_counts_and_doc_section(project: pytest.Pytester) -> None:
    result = project.runpytest(*QUIET)

    result.assert_outcomes(passed=1, failed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*= FAILURES =*",
            "*= cookbook run report =*",
            "recipe * doc section * passed failed errors skipped xfailed * time",
            "await_a_coroutine * Basic Async Tests * 1 * 1 * 0 * 0 * 0 * *s",
            "some_recipe * 0 * 0 * 0 * 1 * 1 * *s",
            "*= short test summary info =*",
        ]
    )
    assert "postgres:" not in result.stdout.str()  # no database test ran: no server was started


def test_a_very_quiet_run_has_no_report(project: pytest.Pytester) -> None:
    result = project.runpytest(*QUIET, "-qq")

    assert "cookbook run report" not in result.stdout.str()


def test_a_server_problem_gets_a_short_line_at_the_end_and_its_fix_only_at_the_top(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    for name in ("CI", "COOKBOOK_REQUIRE_POSTGRES", "COOKBOOK_POSTGRES_TMPDIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{port}/nowhere")
    (project.path / "recipes" / "some_recipe" / "test_db.py").write_text("def test_db(postgres_dsn):\n    pass\n")

    result = project.runpytest(*QUIET)

    result.assert_outcomes(passed=1, failed=1, skipped=1, xfailed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            f"postgres: DATABASE_URL unusable (database tests will fail): nothing listens at 127.0.0.1:{port} *",
            "*= cookbook run report =*",
            "some_recipe * 0 * 0 * 1 * 1 * 1 * *s",  # the database test's setup error is an error, not a failure
            f"postgres: DATABASE_URL: nothing listens at 127.0.0.1:{port} (connection refused) "
            "(database tests will fail)",
        ]
    )
    assert result.stdout.str().count("Fix:") == 1
