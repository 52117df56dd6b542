"""`make copy` in any project layout: the files it names, and its printed words followed literally.

No venv is built here: the runs use the cookbook's own pytest on a stand-in database
recipe that loads the provider but starts no server. `make copy-check` runs the real
database recipes in these layouts, with each way of providing postgres_dsn.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import copy_check, copy_recipe
from tools.common import PROVIDER_FILES, Recipe, all_recipes, child_env

DATABASE_RECIPE = "rollback_each_test"
PLAIN_RECIPE = "await_a_coroutine"
PYTEST_SECTION = '[tool.pytest.ini_options]\nasyncio_mode = "strict"\n'
# pytest's own noise off, for speed; the stand-in test starts no server.
QUIET = (
    "-p",
    "no:randomly",
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:aiohttp",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:xdist",
)


def printed(capsys: pytest.CaptureFixture[str], recipe: str | Recipe, dest: Path) -> str:
    if isinstance(recipe, Recipe):
        for path in copy_recipe.copy_recipe(recipe, dest):
            print(f"copied {path}")
        print(copy_recipe.instructions(recipe, dest))
    else:
        assert copy_recipe.main([recipe, str(dest)]) == 0
    return capsys.readouterr().out


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_flat_tests_folder_gets_pythonpath_and_a_root_conftest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "pyproject.toml", PYTEST_SECTION)

    out = printed(capsys, DATABASE_RECIPE, tmp_path / "tests")

    assert f"add to the [tool.pytest.ini_options] section of {tmp_path / 'pyproject.toml'}" in out
    assert '     pythonpath = ["tests"]\n' in out
    assert f"Load it from\n   {tmp_path / 'conftest.py'} (create it;" in out
    assert '     pytest_plugins = ["postgres_provider"]\n' in out
    assert f"cd {tmp_path} && pytest tests/{DATABASE_RECIPE}" in out
    assert "It needs `postgres_dsn`," in out
    assert str(copy_recipe.DSN_DOC) in out
    for name in PROVIDER_FILES:
        assert (tmp_path / "tests" / name).is_file()


@pytest.mark.parametrize("header", ["[tool.pytest]", "[tool.pytest]    # pytest 9", "  [tool.pytest] # spaced"])
def test_the_section_the_project_has_is_found_even_with_a_comment_after_it(
    header: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "pyproject.toml", f'{header}\nasyncio_default_fixture_loop_scope = "function"\n')

    out = printed(capsys, DATABASE_RECIPE, tmp_path / "tests")

    assert f"add to the [tool.pytest] section of {tmp_path / 'pyproject.toml'}" in out
    assert "(the settings pytest reads for DEST)" in out
    assert "ini_options" not in out


def test_a_package_tests_folder_gets_the_same_two_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "pyproject.toml", PYTEST_SECTION)
    write(tmp_path / "tests" / "__init__.py", "")

    out = printed(capsys, DATABASE_RECIPE, tmp_path / "tests")

    assert '     pythonpath = ["tests"]\n' in out
    assert f"   {tmp_path / 'conftest.py'} (create it;" in out


def test_nested_destination_uses_the_tests_conftest_pytest_loads_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "pyproject.toml", PYTEST_SECTION)
    write(tmp_path / "tests" / "conftest.py", "import pytest\n")

    out = printed(capsys, DATABASE_RECIPE, tmp_path / "tests" / "integration")

    assert '     pythonpath = ["tests/integration"]\n' in out
    assert f"Load it from\n   {tmp_path / 'tests' / 'conftest.py'} (pytest honours" in out
    assert f"cd {tmp_path} && pytest tests/integration/{DATABASE_RECIPE}" in out


def test_a_conftest_at_the_rootdir_wins_over_the_tests_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "pytest.ini", "[pytest]\n")
    write(tmp_path / "conftest.py", "")
    write(tmp_path / "tests" / "conftest.py", "")

    out = printed(capsys, DATABASE_RECIPE, tmp_path / "tests" / "integration")

    assert f"Load it from\n   {tmp_path / 'conftest.py'} (pytest honours" in out


def test_ini_files_get_their_own_spelling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "tox.ini", "[tox]\n")  # no [pytest] section: pytest skips it, and so does make copy
    write(tmp_path / "setup.cfg", "[tool:pytest]\n")

    out = printed(capsys, DATABASE_RECIPE, tmp_path / "tests")

    assert f"add to the [tool:pytest] section of {tmp_path / 'setup.cfg'}" in out
    assert "     asyncio_default_test_loop_scope = function\n" in out
    assert "     pythonpath = tests\n" in out


def test_settings_the_project_has_are_named_not_repeated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "pytest.ini", "[pytest]\npythonpath = src\n")
    write(tmp_path / "conftest.py", 'pytest_plugins = ["pytester"]\n')

    out = printed(capsys, DATABASE_RECIPE, tmp_path / "tests")

    assert "# (add tests to the pythonpath you have)" in out
    assert '# add "postgres_provider" to the pytest_plugins list you have' in out
    assert "pythonpath = tests\n" not in out


def test_loop_scopes_the_project_sets_are_not_printed_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Pasting a TOML key twice stops pytest: "Cannot overwrite a value".
    write(tmp_path / "pyproject.toml", '[tool.pytest]\nasyncio_default_fixture_loop_scope = "function"\n')

    out = printed(capsys, DATABASE_RECIPE, tmp_path / "tests")

    assert 'asyncio_default_fixture_loop_scope = "function"' not in out
    assert 'asyncio_default_test_loop_scope = "function"' in out
    both = (
        '[tool.pytest]\nasyncio_default_fixture_loop_scope = "function"\nasyncio_default_test_loop_scope = "function"\n'
    )
    write(tmp_path / "pyproject.toml", both)
    assert "both loop scopes are set already" in printed(capsys, "await_a_coroutine", tmp_path / "other")


def test_without_pytest_settings_the_project_file_marks_the_rootdir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")

    out = printed(capsys, DATABASE_RECIPE, tmp_path / "tests" / "integration")

    assert f"section of {tmp_path / 'pyproject.toml'}\n   (no pytest settings yet; pyproject.toml makes" in out
    assert '     pythonpath = ["tests/integration"]\n' in out


def test_with_nothing_above_the_root_is_taken_above_the_tests_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = printed(capsys, DATABASE_RECIPE, tmp_path / "proj" / "tests" / "integration")

    assert f"nothing above DEST marks a project: {tmp_path / 'proj'} taken as its root" in out
    assert '     pythonpath = ["tests/integration"]\n' in out


def test_a_recipe_without_a_database_gets_no_provider_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "pyproject.toml", PYTEST_SECTION)

    out = printed(capsys, PLAIN_RECIPE, tmp_path / "tests")

    assert "pythonpath" not in out
    assert "pytest_plugins" not in out
    assert "3. Run it, with the pytest of that venv:" in out
    assert not (tmp_path / "tests" / PROVIDER_FILES[0]).exists()


def test_the_recipe_asking_for_the_admin_dsn_is_told_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = printed(capsys, "run_database_tests_in_parallel", tmp_path / "tests")

    assert "It needs `postgres_admin_dsn`," in out


# --- the printed words, followed literally, in each layout -------------------------------

STAND_IN_TEST = """
def needs_a_database(postgres_dsn):  # what makes make copy treat this as a database recipe
    raise AssertionError("never called: the stand-in starts no server")


def test_the_provider_is_loaded(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("postgres_provider")
"""
SETTINGS_STEP = re.compile(
    r"^2\. pytest settings: add to the (\S+) section of (.+)\n(?:   \(.*\n)?((?:     .*\n)+)", re.M
)
CONFTEST_STEP = re.compile(r"Load it from\n   (\S+) \(.*\n.*\n((?:     .*\n)+)")
RUN_STEP = re.compile(r"Run it, with the pytest of that venv:\n     cd (\S+) && (pytest \S+)")


def follow(out: str) -> list[str]:
    """Do what the printed steps 2 and 3 say; return the command of the last step."""
    section, settings, lines = SETTINGS_STEP.search(out).groups()  # type: ignore[union-attr]
    path = Path(settings)
    text = path.read_text() if path.is_file() else ""
    if section not in text:
        text += f"\n{section}\n"
    path.write_text(text + "".join(line.strip() + "\n" for line in lines.splitlines()))
    conftest, lines = CONFTEST_STEP.search(out).groups()  # type: ignore[union-attr]
    with Path(conftest).open("a") as file:
        file.write("".join(line.strip() + "\n" for line in lines.splitlines()))
    cwd, command = RUN_STEP.search(out).groups()  # type: ignore[union-attr]
    return ["cd", cwd, *command.split()]


@pytest.mark.parametrize("layout", list(copy_check.LAYOUTS))
def test_the_printed_lines_load_the_provider_in_every_layout(
    layout: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shape = copy_check.LAYOUTS[layout]
    project = tmp_path / "project"
    write(project / "pyproject.toml", PYTEST_SECTION + shape.setting)
    for name, text in shape.files:
        write(project / name, text)
    stand_in = tmp_path / "cookbook" / "db_stand_in"
    write(stand_in / "__init__.py", "")
    write(stand_in / "test_stand_in.py", STAND_IN_TEST)

    _, cwd, pytest_, target = follow(printed(capsys, Recipe(stand_in), project / shape.dest))
    done = subprocess.run(
        [str(Path(sys.executable).parent / pytest_), target, "-q", *QUIET],  # the cookbook venv's pytest
        cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_doc_blocks_copy_check_runs_exist() -> None:
    for first_line in copy_check.DOC_BLOCKS.values():
        block = copy_check.doc_block(first_line)
        assert "def postgres_dsn(" in block
        assert "def postgres_admin_dsn(" in block


def test_every_database_recipe_needs_only_what_a_users_fixture_provides() -> None:
    # (a) and (b) in docs/postgres_dsn.md define these two fixtures and nothing else.
    for recipe in all_recipes():
        assert set(recipe.postgres_fixtures) <= {"postgres_dsn", "postgres_admin_dsn"}


def test_default_variants_cover_every_layout_and_way_once() -> None:
    recipes = all_recipes()
    cases = copy_check.variant_cases(recipes, "some")

    cells = {(c.layout, c.way) for c in cases}
    assert len(cases) == len(cells) == len(copy_check.LAYOUTS) * len(copy_check.WAYS) - 1
    assert ("flat", copy_check.PROVIDER) not in cells  # the plain run covers it, for every recipe
    assert all(c.recipe.uses_postgres for c in cases)
    assert len({c.packages for c in cases if c.way == copy_check.PYTEST_POSTGRESQL}) == 1  # one venv more
    assert len(copy_check.variant_cases(recipes, "all")) == len(cells) * sum(r.uses_postgres for r in recipes)
    assert copy_check.variant_cases(recipes, "none") == []


def test_noproc_options_name_a_socket_server_and_a_tcp_one() -> None:
    socket = copy_check.noproc_options("postgresql://postgres:s3cret@/postgres?host=/dev/shm/pg-x", "db1")
    assert socket == [
        "--postgresql-host=/dev/shm/pg-x",
        "--postgresql-port=5432",
        "--postgresql-user=postgres",
        "--postgresql-password=s3cret",
        "--postgresql-maintenance-dbname=postgres",
        "--postgresql-dbname=db1",
    ]
    tcp = copy_check.noproc_options("postgresql://app@db.example:6543/app", "db2")
    assert tcp[:3] == ["--postgresql-host=db.example", "--postgresql-port=6543", "--postgresql-user=app"]
    assert "--postgresql-maintenance-dbname=app" in tcp
