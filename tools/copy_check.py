"""`make copy-check`: every recipe, copied alone into an empty project, passes there.

For each recipe: a fresh project in a temp dir holding only that recipe (copied as
`make copy` does), the minimum pytest config a user would have, and a venv holding only
the packages the recipe declares (tools/common.py derives them from its code), installed
at the requirements.lock pins. Recipes with the same needs share a venv; the venvs are
kept in .venv-copy/ and rebuilt when the lock or the needs change.

The project's config is strict mode, both loop-scope options and warnings as errors, and
nothing else: no ``-p pytester`` (a recipe's test_pitfalls.py declares ``pytest_plugins =
["pytester"]`` itself), none of the cookbook's other settings. Database recipes get the
copied postgres_provider.py, loaded from the project's conftest.py, with DATABASE_URL
pointing at the server this run found (and COOKBOOK_REQUIRE_POSTGRES=1: no skipping).

    python -m tools.copy_check [--jobs N] [RECIPE ...]
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tools.common import (
    LOCK_FILE,
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
from tools.copy_recipe import copy_recipe

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


@dataclass
class Env:
    needs: tuple[str, ...]
    path: Path
    error: str = ""
    seconds: float = 0.0


@dataclass
class Result:
    recipe: Recipe
    env: Env
    returncode: int
    summary: str
    output: str
    seconds: float


def env_key(needs: tuple[str, ...]) -> str:
    text = "\n".join([sys.version, LOCK_FILE.read_text(), *needs])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_env(env: Env) -> Env:
    """A venv at ``env.path`` with exactly ``env.needs`` (and their dependencies) at the locked pins."""
    started = time.monotonic()
    env.error = build_venv(env.path, env.needs, LOCK_FILE.read_text())
    env.seconds = time.monotonic() - started
    return env


def write_project(recipe: Recipe, project: Path) -> None:
    copy_recipe(recipe, project)
    (project / "pyproject.toml").write_text(PROJECT_CONFIG)
    if recipe.uses_postgres:  # what `make copy` tells the user to add
        (project / "conftest.py").write_text('pytest_plugins = ["postgres_provider"]\n')


def run_copy(recipe: Recipe, env: Env, base: Path, dsn: str | None) -> Result:
    started = time.monotonic()
    if env.error:
        return Result(recipe, env, -1, "venv not built", env.error, 0.0)
    project = base / recipe.name
    write_project(recipe, project)
    bindir = env.path / "bin"
    extra = {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(env.path)}
    if dsn is not None:
        extra |= {"DATABASE_URL": dsn, "COOKBOOK_REQUIRE_POSTGRES": "1"}
    done = subprocess.run(
        [str(bindir / "pytest"), "-q", "-rfEs"],
        cwd=project, env=child_env(**extra), capture_output=True, text=True, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    return Result(
        recipe, env, done.returncode, pytest_summary(output, done.returncode), output, time.monotonic() - started
    )


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(__doc__, "runs at a time")
    args = parser.parse_args(argv)
    recipes = all_recipes(args.recipes)
    started = time.monotonic()

    envs: dict[tuple[str, ...], Env] = {}
    for recipe in recipes:
        envs.setdefault(recipe.needs, Env(recipe.needs, VENVS / env_key(recipe.needs)))
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
            lambda r: run_copy(r, envs[r.needs], Path(tmp), dsn if r.uses_postgres else None), recipes, args.jobs
        )

    print(
        table(
            ["recipe", "installed (besides pytest, pytest-asyncio)", "result", "seconds"],
            (
                [
                    r.recipe.name,
                    " ".join(n for n in r.recipe.needs if n not in ("pytest", "pytest-asyncio")) or "-",
                    ("ok   " if r.returncode == 0 else "FAIL ") + r.summary,
                    f"{r.seconds:.1f}",
                ]
                for r in results
            ),
        )
    )
    failed = [r for r in results if r.returncode != 0]
    for r in failed:
        print(f"\nFAIL {r.recipe.name} (installed: {' '.join(r.recipe.needs)}):\n{tail(r.output, 60)}")
    for r in results:
        if r.returncode == 0 and (skips := SKIP_REASON.findall(r.output)):
            print(f"\nnote {r.recipe.name}: " + "\n  ".join(skips))
    print(f"\ncopy-check: {len(results) - len(failed)}/{len(results)} recipes pass alone", end="")
    print(f"; failed: {', '.join(r.recipe.name for r in failed)}" if failed else "")
    print(f"copy-check: {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
