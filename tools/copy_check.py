"""`make copy-check`: every recipe, copied alone into an empty project, passes there.

For each recipe: a fresh project in a temp dir holding only that recipe, copied into its
tests/ as `make copy` does, the minimum pytest config a user would have, and a venv
holding only the packages the recipe declares (tools/common.py derives them from its
code), installed at the requirements.lock pins. Recipes with the same needs share a venv;
the venvs are kept in .venv-copy/ and rebuilt when the lock or the needs change.

The project's config is strict mode, both loop-scope options and warnings as errors, and
nothing else: no ``-p pytester`` (a recipe's test_pitfalls.py declares ``pytest_plugins =
["pytester"]`` itself), none of the cookbook's other settings. A database recipe gets the
provider the way `make copy` says: the ``pythonpath`` line and the conftest line it
prints, with DATABASE_URL pointing at the server this run found (and
COOKBOOK_REQUIRE_POSTGRES=1: no skipping).

Then the database recipes again, in the other layouts (tests/ a package, the importlib
import mode, a nested destination) and with the other two ways of providing
``postgres_dsn`` that docs/postgres_dsn.md shows (its own code blocks are what runs): a
fixture reading DATABASE_URL (each run gets a database created for it), and
pytest-postgresql (in a venv of its own; as root, on the server found here through
``postgresql_noproc``, since its ``postgresql_proc`` cannot start one as root). By
default one database recipe per layout and way; ``--variants all`` runs each of them in
every one.

    python -m tools.copy_check [--jobs N] [--variants some|all|none] [RECIPE ...]
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from tools.common import (
    LOCK_FILE,
    PROVIDER_FILES,
    ROOT,
    Recipe,
    all_recipes,
    build_venv,
    child_env,
    postgres_server,
    pytest_summary,
    recipe_parser,
    run_parallel,
    table,
    tail,
)
from tools.copy_recipe import DSN_DOC, conftest_line, copy_recipe, find_project, provider_setting

VENVS = ROOT / ".venv-copy"
SKIP_REASON = re.compile(r"^SKIPPED .*$", re.M)
# Someone else's project: strict mode, both loop scopes, warnings as errors, and nothing
# else (no addopts: a recipe whose pitfalls need pytester declares it in its own file).
PROJECT_CONFIG = """\
[project]
name = "someones-project"
version = "0"

[tool.pytest.ini_options]
asyncio_mode = "strict"
asyncio_default_fixture_loop_scope = "function"
asyncio_default_test_loop_scope = "function"
filterwarnings = ["error"]
"""


@dataclass(frozen=True)
class Layout:
    """Where the recipe goes in the project, and what the project already holds."""

    dest: str
    files: tuple[tuple[str, str], ...] = ()
    setting: str = ""  # one more line in the pytest section


LAYOUTS = {
    "flat": Layout("tests"),
    "package": Layout("tests", (("tests/__init__.py", ""),)),
    "importlib": Layout("tests", setting='addopts = "--import-mode=importlib"\n'),
    "nested": Layout("tests/integration"),  # the conftest make copy names: at the project root
    "nested-package": Layout(  # the project's top-level conftest is tests/conftest.py
        "tests/integration",
        (
            ("tests/__init__.py", ""),
            ("tests/integration/__init__.py", ""),
            ("tests/conftest.py", '"""The project\'s own top-level conftest."""\n'),
        ),
    ),
}
PROVIDER, DATABASE_URL, PYTEST_POSTGRESQL = "provider", "DATABASE_URL", "pytest-postgresql"
WAYS = (PROVIDER, DATABASE_URL, PYTEST_POSTGRESQL)
# The docs/postgres_dsn.md block each way runs (by its first line); the provider needs none.
DOC_BLOCKS = {
    DATABASE_URL: "# conftest.py: postgres_dsn from DATABASE_URL",
    PYTEST_POSTGRESQL: "# conftest.py: postgres_dsn from pytest-postgresql",
}
# Never in requirements.lock: only this check's own venv for way (b) has them.
PYTEST_POSTGRESQL_PACKAGES = ("pytest-postgresql==10.0.0", "psycopg[binary]==3.3.9")


@dataclass(frozen=True)
class Case:
    """One run: a recipe, the layout it is copied into, and how postgres_dsn is provided."""

    recipe: Recipe
    layout: str = "flat"
    way: str = PROVIDER

    @property
    def packages(self) -> tuple[str, ...]:
        extra = PYTEST_POSTGRESQL_PACKAGES if self.way == PYTEST_POSTGRESQL else ()
        return (*self.recipe.needs, *extra)

    @property
    def slug(self) -> str:
        return f"{self.recipe.name}-{self.layout}-{self.way}".lower().replace("_", "-")


@dataclass
class Env:
    needs: tuple[str, ...]
    path: Path
    error: str = ""
    seconds: float = 0.0


@dataclass
class Result:
    case: Case
    env: Env
    returncode: int
    summary: str
    output: str
    seconds: float
    notes: list[str] = field(default_factory=list)


def env_key(needs: tuple[str, ...]) -> str:
    text = "\n".join([sys.version, LOCK_FILE.read_text(), *needs])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_env(env: Env) -> Env:
    """A venv at ``env.path`` with exactly ``env.needs`` (and their dependencies) at the locked pins."""
    started = time.monotonic()
    env.error = build_venv(env.path, env.needs, LOCK_FILE.read_text())
    env.seconds = time.monotonic() - started
    return env


def doc_block(first_line: str) -> str:
    """The python block of docs/postgres_dsn.md that starts with ``first_line``."""
    blocks: list[str] = re.findall(r"^```python\n(.*?)^```", DSN_DOC.read_text(), re.S | re.M)
    for block in blocks:
        if block.startswith(first_line + "\n"):
            return block
    raise SystemExit(f"{DSN_DOC.relative_to(ROOT)} has no python block starting {first_line!r}")


def write_project(case: Case, project: Path) -> None:
    """The project as a user following `make copy` (and docs/postgres_dsn.md for ways a, b) leaves it."""
    layout = LAYOUTS[case.layout]
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text(PROJECT_CONFIG + layout.setting)
    for name, text in layout.files:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    dest = project / layout.dest
    copy_recipe(case.recipe, dest)
    if not case.recipe.uses_postgres:
        return
    found = find_project(dest)
    if found.rootdir != project.resolve():
        raise RuntimeError(f"make copy would name {found.rootdir} as the rootdir of {project}")
    if case.way == PROVIDER:
        add = {found.settings: provider_setting(found), found.conftest: conftest_line(found)}
    else:
        for name in PROVIDER_FILES:  # the doc says to delete them: prove nothing needs them
            (dest / Path(name).name).unlink()
        add = {found.conftest: doc_block(DOC_BLOCKS[case.way])}
    for path, line in add.items():
        before = path.read_text() if path.is_file() else ""
        path.write_text(before + ("\n" if before and not before.endswith("\n") else "") + line + "\n")


def pytest_postgresql_proc_usable() -> bool:
    """pytest-postgresql's postgresql_proc runs pg_ctl as this user: never as root (pg_ctl refuses)."""
    return os.geteuid() != 0 and (shutil.which("pg_ctl") is not None or shutil.which("pg_config") is not None)


def noproc_options(admin_dsn: str, dbname: str) -> list[str]:
    """pytest-postgresql's options naming the server behind ``admin_dsn`` (a URL, host maybe a socket folder)."""
    parts = urlsplit(admin_dsn)
    query = parse_qs(parts.query)
    options = {
        "host": query.get("host", [parts.hostname or "localhost"])[0],
        "port": query.get("port", [str(parts.port or 5432)])[0],
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "maintenance-dbname": parts.path.lstrip("/") or "postgres",
        "dbname": dbname,  # its template is <dbname>_tmpl: unique, since runs share the server
    }
    return [f"--postgresql-{key}={value}" for key, value in options.items() if value]


def admin_execute(admin_dsn: str, statement: str) -> None:
    import asyncpg  # in the cookbook's venv; only database runs get here

    async def execute() -> None:
        connection = await asyncpg.connect(admin_dsn, timeout=30)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(execute())


def run_case(case: Case, env: Env, base: Path, admin_dsn: str | None) -> Result:
    started = time.monotonic()
    if env.error:
        return Result(case, env, -1, "venv not built", env.error, 0.0)
    project = base / case.slug
    write_project(case, project)
    bindir = env.path / "bin"
    extra = {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(env.path)}
    args = [str(bindir / "pytest"), "-q", "-rfEs"]
    notes, database = [], ""
    if admin_dsn is not None and case.way == PROVIDER:
        extra |= {"DATABASE_URL": admin_dsn, "COOKBOOK_REQUIRE_POSTGRES": "1"}
    elif admin_dsn is not None and case.way == DATABASE_URL:
        database = f"copy_check_{uuid.uuid4().hex[:12]}"  # what CI would do: a database per job
        admin_execute(admin_dsn, f'CREATE DATABASE "{database}"')
        extra["DATABASE_URL"] = urlunsplit(urlsplit(admin_dsn)._replace(path="/" + database))
    elif admin_dsn is not None and case.way == PYTEST_POSTGRESQL and not pytest_postgresql_proc_usable():
        conftest = find_project(project / LAYOUTS[case.layout].dest).conftest
        conftest.write_text(conftest.read_text().replace("postgresql_proc", "postgresql_noproc"))
        args += noproc_options(admin_dsn, f"copy_check_{uuid.uuid4().hex[:12]}")
        notes.append("postgresql_noproc on the server found here (as root postgresql_proc cannot start one)")
    try:
        done = subprocess.run(args, cwd=project, env=child_env(**extra), capture_output=True, text=True, check=False)
    finally:
        if database:
            admin_execute(admin_dsn or "", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    output = done.stdout + done.stderr
    returncode = done.returncode
    if case.recipe.uses_postgres and any("DATABASE_URL" in skip for skip in SKIP_REASON.findall(output)):
        returncode = returncode or 1  # a database check never passes by skipping
    summary = pytest_summary(output, done.returncode)
    return Result(case, env, returncode, summary, output, time.monotonic() - started, notes)


def variant_cases(recipes: list[Recipe], mode: str) -> list[Case]:
    """The database recipes in every other (layout, way): one recipe per cell, or all of them."""
    database = [r for r in recipes if r.uses_postgres]
    cells = [(lay, way) for way in WAYS for lay in LAYOUTS if (lay, way) != ("flat", PROVIDER)]
    if mode == "none" or not database:
        return []
    if mode == "all":
        return [Case(r, lay, way) for lay, way in cells for r in database]
    # One venv more for pytest-postgresql: its cells take recipes with the commonest needs.
    commonest = max({r.needs for r in database}, key=lambda needs: sum(r.needs == needs for r in database))
    plain = itertools.cycle([r for r in database if r.needs == commonest])
    anyone = itertools.cycle(database)
    return [Case(next(plain if way == PYTEST_POSTGRESQL else anyone), lay, way) for lay, way in cells]


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(__doc__, "runs at a time")
    parser.add_argument(
        "--variants",
        choices=("some", "all", "none"),
        default="some",
        help="database recipes in the other layouts and ways: one per cell, all, or none (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    recipes = all_recipes(args.recipes)
    started = time.monotonic()

    cases = [Case(r) for r in recipes]
    variants = variant_cases(recipes, args.variants)
    envs: dict[tuple[str, ...], Env] = {}
    for case in cases + variants:
        envs.setdefault(case.packages, Env(case.packages, VENVS / env_key(case.packages)))
    if not args.recipes and VENVS.is_dir():  # drop venvs for needs or pins that no longer exist
        current = {env.path for env in envs.values()}
        for stale in VENVS.iterdir():
            if stale not in current:
                shutil.rmtree(stale, ignore_errors=True)
    run_parallel(build_env, list(envs.values()), args.jobs)
    built = time.monotonic() - started
    print(f"copy-check: {len(envs)} venvs for {len(recipes)} recipes ready in {built:.0f} s", flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="cookbook-copies-") as tmp,
        postgres_server(any(r.uses_postgres for r in recipes)) as dsn,
    ):
        results = run_parallel(
            lambda c: run_case(c, envs[c.packages], Path(tmp), dsn if c.recipe.uses_postgres else None),
            cases + variants,
            args.jobs,
        )
    plain, other = results[: len(cases)], results[len(cases) :]

    print(
        table(
            ["recipe", "installed (besides pytest, pytest-asyncio)", "result", "seconds"],
            (
                [
                    r.case.recipe.name,
                    " ".join(n for n in r.case.recipe.needs if n not in ("pytest", "pytest-asyncio")) or "-",
                    _result(r),
                    f"{r.seconds:.1f}",
                ]
                for r in plain
            ),
        )
    )
    if other:
        print(f"\ndatabase recipes in other layouts, and with postgres_dsn from {DSN_DOC.relative_to(ROOT)}:")
        print(
            table(
                ["layout", "postgres_dsn from", "recipe", "result", "seconds"],
                ([r.case.layout, r.case.way, r.case.recipe.name, _result(r), f"{r.seconds:.1f}"] for r in other),
            )
        )
    failed = [r for r in results if r.returncode != 0]
    for r in failed:
        print(f"\nFAIL {_label(r.case)} (installed: {' '.join(r.case.packages)}):\n{tail(r.output, 60)}")
    for r in results:
        if r.returncode == 0 and (skips := SKIP_REASON.findall(r.output)):
            print(f"\nnote {_label(r.case)}: " + "\n  ".join(skips))
    for note in sorted({n for r in results for n in r.notes}):
        print(f"note pytest-postgresql: {note}")
    plain_failed = [r for r in plain if r.returncode != 0]
    print(f"\ncopy-check: {len(plain) - len(plain_failed)}/{len(plain)} recipes pass alone", end="")
    print(f"; failed: {', '.join(r.case.recipe.name for r in plain_failed)}" if plain_failed else "")
    if other:
        other_failed = [r for r in other if r.returncode != 0]
        passed = len(other) - len(other_failed)
        print(f"copy-check: {passed}/{len(other)} layout and postgres_dsn variants pass", end="")
        print(f"; failed: {', '.join(_label(r.case) for r in other_failed)}" if other_failed else "")
    print(f"copy-check: {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


def _result(r: Result) -> str:
    return ("ok   " if r.returncode == 0 else "FAIL ") + r.summary


def _label(case: Case) -> str:
    if (case.layout, case.way) == ("flat", PROVIDER):
        return case.recipe.name
    return f"{case.recipe.name} [{case.layout}, {case.way}]"


if __name__ == "__main__":
    sys.exit(main())
