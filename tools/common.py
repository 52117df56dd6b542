"""What the verification tools share: the recipes, what each one needs, a PostgreSQL, a small worker pool.

A recipe's needs are derived from its code, so there is nothing to keep in step by hand:
the third-party modules its files import (mapped to packages by ``IMPORT_PACKAGES``), the
plugin fixtures its tests request (``FIXTURE_PACKAGES``), and the same for the code of the
pytester sandboxes it writes. An import the maps do not know stops the tools with a
message saying where to declare it. ``make copy-check`` proves the result: every recipe
runs in a venv that holds its declared needs and nothing else.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
RECIPES_DIR = ROOT / "recipes"
LOCK_FILE = ROOT / "requirements.lock"
# The files `make copy` puts next to a database recipe (names relative to ROOT): the provider
# plugin first (the module a conftest loads), then any module it imports.
PROVIDER_FILES: tuple[str, ...] = ("postgres_provider.py", "postgres_cluster.py")

# Third-party modules the recipes import -> the package that provides each one.
IMPORT_PACKAGES = {
    "aiohttp": "aiohttp",
    "yarl": "yarl",
    "multidict": "multidict",
    "asyncpg": "asyncpg",
    "uvloop": "uvloop",
    "pytest": "pytest",
    "_pytest": "pytest",
    "pytest_asyncio": "pytest-asyncio",
    "pytest_aiohttp": "pytest-aiohttp",
    "pytest_mock": "pytest-mock",
    "xdist": "pytest-xdist",
    "hypothesis": "hypothesis",
    "blockbuster": "blockbuster",
    "async_solipsism": "async-solipsism",
    "yaml": "pyyaml",
    "sqlalchemy": "sqlalchemy",
    "starlette": "starlette",
    "httpx": "httpx",
    "asgi_lifespan": "asgi-lifespan",
    "anyio": "anyio",
    "trio": "trio",
    "freezegun": "freezegun",
    "time_machine": "time-machine",
    "pytest_timeout": "pytest-timeout",
}
# Fixtures that a plugin provides without being imported -> that plugin's package.
FIXTURE_PACKAGES = {
    "aiohttp_client": "pytest-aiohttp",
    "aiohttp_server": "pytest-aiohttp",
    "aiohttp_raw_server": "pytest-aiohttp",
    "mocker": "pytest-mock",
    "class_mocker": "pytest-mock",
    "module_mocker": "pytest-mock",
    "session_mocker": "pytest-mock",
    "worker_id": "pytest-xdist",
    "testrun_uid": "pytest-xdist",
    "anyio_backend": "anyio",
    "anyio_backend_name": "anyio",
    "anyio_backend_options": "anyio",
}
# Every recipe is a pytest-asyncio suite, whether or not it imports the package.
BASE_PACKAGES = ("pytest", "pytest-asyncio")
# Requesting one of these needs the shared provider (postgres_provider.py), which imports asyncpg.
POSTGRES_FIXTURES = frozenset({"postgres_dsn", "postgres_admin_dsn"})


def canonicalize_name(name: str) -> str:
    """A package name as PyPI compares it (PEP 503); the standard library only, so `make copy` needs no venv."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The package a requirement line names: 'aiohttp>=3.14,<3.15; ...' -> 'aiohttp'."""
    return canonicalize_name(re.split(r"[\s<>=!~;\[@(]", requirement.strip(), maxsplit=1)[0])


T = TypeVar("T")
R = TypeVar("R")


class UndeclaredImport(Exception):
    """A recipe imports a third-party module that IMPORT_PACKAGES does not map to a package."""


@dataclass
class _Usage:
    imports: set[str] = field(default_factory=set)
    fixtures: set[str] = field(default_factory=set)


def _usage_of(tree: ast.AST) -> _Usage:
    usage = _Usage()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            usage.imports |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            usage.imports.add(node.module.split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            usage.fixtures |= {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    return usage


def _plugin_args(tree: ast.AST) -> set[str]:
    """Top-level modules a sandbox's command line loads with ``-p`` ("-p", "pytest_aiohttp.plugin")."""
    found: set[str] = set()
    for node in ast.walk(tree):
        items: list[ast.expr] = [node] if isinstance(node, ast.Constant) else []
        if isinstance(node, ast.List | ast.Tuple):
            items = node.elts
        elif isinstance(node, ast.Call):
            items = node.args
        words = [w for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str) for w in i.value.split()]
        found |= {b.split(".")[0] for a, b in itertools.pairwise(words) if a == "-p" and ":" not in b}
    return found


def _sandbox_sources(tree: ast.AST) -> Iterator[ast.Module]:
    """Python code held in string literals: what a test writes into its pytester sandbox."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\n" in node.value:
            try:
                code = ast.parse(textwrap.dedent(node.value))
            except SyntaxError:
                continue
            if any(
                isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef)
                for stmt in code.body
            ):
                yield code


@dataclass(frozen=True)
class Recipe:
    """One folder under recipes/."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sources(self) -> list[Path]:
        return sorted(self.path.glob("*.py"))

    @property
    def modules(self) -> list[Path]:
        """The recipe's own code: what coverage and mutation testing measure."""
        return [
            p for p in self.sources if not p.name.startswith("test_") and p.name not in ("conftest.py", "__init__.py")
        ]

    @cached_property
    def _usage(self) -> tuple[_Usage, _Usage]:
        """(what the recipe's files use, what the sandboxes they write use)."""
        code, sandbox = _Usage(), _Usage()
        for source in self.sources:
            tree = ast.parse(source.read_text(), filename=str(source))
            found = _usage_of(tree)
            code.imports |= found.imports
            code.fixtures |= found.fixtures
            sandbox.imports |= _plugin_args(tree)
            for snippet in _sandbox_sources(tree):
                found = _usage_of(snippet)
                sandbox.imports |= found.imports
                sandbox.fixtures |= found.fixtures
        return code, sandbox

    @property
    def postgres_fixtures(self) -> list[str]:
        """The shared PostgreSQL fixtures its tests request (what a user's own fixture must provide)."""
        return sorted(self._usage[0].fixtures & POSTGRES_FIXTURES)

    @property
    def uses_postgres(self) -> bool:
        return bool(self.postgres_fixtures)

    @cached_property
    def needs(self) -> tuple[str, ...]:
        """The packages (canonical names) this recipe needs installed, sorted."""
        code, sandbox = self._usage
        local = {p.stem for p in self.sources} | {"recipes"}
        packages = set(BASE_PACKAGES)
        for module in sorted(code.imports - local - set(sys.stdlib_module_names)):
            if module not in IMPORT_PACKAGES:
                raise UndeclaredImport(
                    f"recipes/{self.name} imports {module!r}, which tools/common.py does not map to a package: "
                    "add it to IMPORT_PACKAGES (and the package to pyproject.toml)"
                )
            packages.add(IMPORT_PACKAGES[module])
        # A sandbox imports its own modules too; only the known third-party ones count.
        packages |= {IMPORT_PACKAGES[m] for m in sandbox.imports if m in IMPORT_PACKAGES}
        packages |= {FIXTURE_PACKAGES[f] for f in code.fixtures | sandbox.fixtures if f in FIXTURE_PACKAGES}
        if self.uses_postgres:
            packages.add("asyncpg")  # postgres_provider.py connects with it
        return tuple(sorted(canonicalize_name(p) for p in packages))


def all_recipes(names: Iterable[str] = ()) -> list[Recipe]:
    """Every recipe, or the named ones (an unknown name is an error)."""
    found = {
        p.name: Recipe(p)
        for p in sorted(RECIPES_DIR.iterdir())
        if p.is_dir() and not p.name.startswith(("_", ".")) and (p / "__init__.py").is_file()
    }
    wanted = list(names)
    if unknown := [n for n in wanted if n not in found]:
        raise SystemExit(f"unknown recipe(s): {', '.join(unknown)}; `make list` shows them")
    return [found[n] for n in wanted] if wanted else list(found.values())


def declared_requirements() -> dict[str, str]:
    """Canonical package name -> its requirement in pyproject.toml (project deps and every group)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entries: list[object] = list(pyproject["project"].get("dependencies", []))
    for group in pyproject.get("dependency-groups", {}).values():
        entries += group
    specs: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, str):
            specs[requirement_name(entry)] = entry
    return specs


def child_env(**overrides: str) -> dict[str, str]:
    """The environment for a child run: ours, less what would leak the cookbook's settings into it."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "VIRTUAL_ENV")
        and not key.startswith(("COVERAGE_", "COOKBOOK_", "PYTEST_XDIST"))
    }
    env.update(overrides)
    return env


@contextlib.contextmanager
def postgres_server(needed: bool) -> Iterator[str | None]:
    """A PostgreSQL admin DSN for child runs to share (via DATABASE_URL), found as the test suite finds one.

    Yields None when not ``needed``. When needed and there is none, exits with the provider's
    message: a verification gate never passes by skipping the database recipes.
    """
    if not needed:
        yield None
        return
    sys.path.insert(0, str(ROOT))
    import postgres_provider  # imports pytest and asyncpg: only when a database is needed

    provider = postgres_provider.Provider()
    try:
        server = provider.resolve()
        if server is None:
            raise SystemExit(f"database recipes selected, but {provider.failure}")
        print(f"postgres: {server.label}", flush=True)
        yield server.admin_dsn
    finally:
        provider.close()


def with_extras(package: str) -> str:
    """The package with the extras pyproject.toml asks for ('sqlalchemy' -> 'sqlalchemy[asyncio]'), else as given."""
    extras = re.match(r"[^\[;<>=!~\s]+(\[[^\]]+\])", declared_requirements().get(package, ""))
    return package + extras.group(1) if extras else package


def build_venv(path: Path, packages: Sequence[str], constraints: str) -> str:
    """A venv at ``path`` holding ``packages`` under ``constraints`` (requirements text), built once.

    Returns "" once it is ready (``path/.ready``), else what failed. Callers key ``path`` on
    everything that should rebuild it (the lock, the Python, the packages).
    """
    installs = [with_extras(package) for package in packages]
    ready = " ".join(installs) + "\n"  # an older venv built without an extra it now needs is built again
    if (path / ".ready").is_file() and (path / ".ready").read_text() == ready:
        return ""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    (path / "constraints.txt").write_text(constraints)
    steps = [
        [sys.executable, "-m", "venv", "--without-pip", str(path)],
        [
            sys.executable, "-m", "pip", "--python", str(path / "bin" / "python"), "install", "--quiet",
            "--disable-pip-version-check", "--constraint", str(path / "constraints.txt"),
            *installs,
        ],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, env=child_env(), check=False)
        if done.returncode != 0:
            return f"{' '.join(step[:5])}... failed:\n{tail(done.stdout + done.stderr)}"
    (path / ".ready").write_text(ready)
    return ""


def run_parallel(fn: Callable[[T], R], items: Sequence[T], jobs: int) -> list[R]:
    """``[fn(item) for item in items]`` on ``jobs`` threads (each item runs child processes), in order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(fn, items))


def recipe_parser(doc: str | None, jobs_help: str = "recipes at a time") -> argparse.ArgumentParser:
    """The command line every per-recipe tool shares: recipe names (default: all) and --jobs."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="*", help="recipe names (default: all)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help=f"{jobs_help} (default: %(default)s)")
    return parser


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 2))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table: text columns left-aligned, numbers right-aligned."""
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) and len(cells) > 1 for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        cols = (c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True))
        return "  ".join(cols).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *(line(r) for r in cells[1:])])


def _is_number(text: str) -> bool:
    return text.rstrip("%").replace(".", "", 1).isdigit()


SUMMARY_LINE = re.compile(r"^=*\s*(\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b.*?)\s*=*$", re.M)
SUMMARY_HEADER = re.compile(r"^=+ short test summary info =+$", re.M)
FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


def pytest_summary(output: str, returncode: int) -> str:
    """pytest's closing line ("3 failed, 722 passed in 13.25s"), or the exit code if there is none."""
    found = SUMMARY_LINE.findall(output)
    return found[-1] if found else f"exit {returncode}"


def failed_tests(output: str) -> list[str]:
    """The node ids in pytest's last "short test summary info" (not those of pytester sandboxes above it)."""
    headers = list(SUMMARY_HEADER.finditer(output))
    return FAILED_LINE.findall(output, headers[-1].end()) if headers else []


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
