"""`make copy RECIPE=<name> DEST=<dir>`: copy one recipe into another project, and say what it needs there.

Copies recipes/<name>/ to <DEST>/<name>/, plus postgres_provider.py to <DEST>/ when the
recipe requests the shared PostgreSQL fixture (``postgres_dsn`` / ``postgres_admin_dsn``).
Then prints the packages to install (the ranges pyproject.toml declares) and the pytest
settings the recipe relies on. Nothing that exists is overwritten.

    python -m tools.copy_recipe RECIPE DEST
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

from tools.common import PROVIDER_FILES, ROOT, Recipe, all_recipes, declared_requirements

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache")


def copy_recipe(recipe: Recipe, dest: Path) -> list[Path]:
    """Copy the recipe (and the provider it needs) into ``dest``; return what was created."""
    target = dest / recipe.name
    if target.exists():
        raise SystemExit(f"{target} already exists: remove it first, nothing was copied")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(recipe.path, target, ignore=IGNORED)
    created = [target]
    if recipe.uses_postgres:
        for name in PROVIDER_FILES:
            source, provider = ROOT / name, dest / Path(name).name
            if not provider.exists():
                shutil.copy2(source, provider)
                created.append(provider)
            elif provider.read_bytes() != source.read_bytes():
                print(f"note: kept the existing {provider}; it differs from the cookbook's {source.name}")
    return created


def install_command(recipe: Recipe) -> str:
    specs = declared_requirements()
    return "pip install " + " ".join(shlex.quote(specs.get(package, package)) for package in recipe.needs)


# The pytest settings every recipe relies on (its pitfall file declares pytester itself).
PYTEST_SETTINGS = [
    "# strict mode, pytest-asyncio's default, is all the recipes need",
    'asyncio_default_fixture_loop_scope = "function"',
    'asyncio_default_test_loop_scope = "function"',
]


def instructions(recipe: Recipe, dest: Path) -> str:
    steps = [
        f"1. Install what it needs:\n     {install_command(recipe)}",
        "2. pytest settings: add to the pytest section you have ([tool.pytest] or [tool.pytest.ini_options]\n"
        "   in pyproject.toml; [pytest] in pytest.ini, without the quotes):\n     " + "\n     ".join(PYTEST_SETTINGS),
    ]
    if recipe.uses_postgres:
        steps.append(
            f"3. It uses the shared PostgreSQL fixture: add this line to {dest / 'conftest.py'} (create it;\n"
            "   it must be the top-level conftest.py of your tests, next to postgres_provider.py):\n"
            '     pytest_plugins = ["postgres_provider"]\n'
            "   The server: DATABASE_URL if set, else the cookbook's docker compose service, else a\n"
            "   throwaway cluster from local initdb/pg_ctl (see postgres_provider.py)."
        )
    steps.append(f"{len(steps) + 1}. Run it:\n     pytest {dest / recipe.name}")
    return "\n".join(steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", help="the recipe's folder name (`make list`)")
    parser.add_argument("dest", type=Path, help="the project directory to copy it into")
    args = parser.parse_args(argv)
    (recipe,) = all_recipes([args.recipe])
    for path in copy_recipe(recipe, args.dest):
        print(f"copied {path}")
    print()
    print(instructions(recipe, args.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
