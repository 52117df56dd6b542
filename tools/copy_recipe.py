"""`make copy RECIPE=<name> DEST=<dir>`: copy one recipe into another project, and say what it needs there.

Copies recipes/<name>/ to <DEST>/<name>/, plus the provider's files (PROVIDER_FILES) to
<DEST>/ when the recipe requests the shared PostgreSQL fixture (``postgres_dsn`` /
``postgres_admin_dsn``). Then prints the packages to install (the ranges pyproject.toml
declares) and the settings the recipe relies on, naming the files of *that* project to
put them in: the pytest configuration pytest will read for DEST, and a conftest.py that
pytest loads at start-up. Nothing that exists is overwritten or edited.

Loading the provider takes two lines that work in every layout tried (tests/ a package or
not, the destination nested or not, ``--import-mode=importlib`` or not): ``pythonpath``
naming DEST, so ``postgres_provider`` is importable by that name, and ``pytest_plugins``
in a conftest.py pytest reads before collecting (pytest rejects it anywhere else).
``make copy-check`` runs the database recipes in each of those layouts.

    python -m tools.copy_recipe RECIPE DEST
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.common import PROVIDER_FILES, ROOT, Recipe, all_recipes, declared_requirements

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache")
DSN_DOC = ROOT / "docs" / "postgres_dsn.md"
PLUGIN = Path(PROVIDER_FILES[0]).stem  # the module a conftest loads: "postgres_provider"

# Where pytest looks for its settings, in its own order, and the section that makes each
# file count (pytest.ini counts even without one).
CONFIG_FILES = (
    ("pytest.ini", ("[pytest]",)),
    (".pytest.ini", ("[pytest]",)),
    ("pyproject.toml", ("[tool.pytest.ini_options]", "[tool.pytest]")),
    ("tox.ini", ("[pytest]",)),
    ("setup.cfg", ("[tool:pytest]",)),
)
# Without pytest settings, pytest takes the first folder up holding one of these as rootdir.
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "tox.ini", ".git")


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


@dataclass(frozen=True)
class Project:
    """What pytest will make of the project that holds DEST."""

    rootdir: Path
    settings: Path  # the file pytest reads its settings from (it may not exist yet)
    section: str  # the section in it that holds them
    found: str  # how rootdir was found, for the reader
    conftest: Path  # a conftest.py pytest loads before collecting: pytest_plugins is honoured there
    dest: Path  # DEST, resolved

    @property
    def ini_style(self) -> bool:
        return self.settings.suffix != ".toml"

    @property
    def dest_from_root(self) -> str:
        return self.dest.relative_to(self.rootdir).as_posix() or "."

    def setting(self, key: str, values: list[str]) -> str:
        """``key = ...`` as this settings file spells a list (ini files: bare, space-separated)."""
        if self.ini_style:
            return f"{key} = {' '.join(values)}"
        return f"{key} = [{', '.join(json.dumps(v) for v in values)}]"

    def has_setting(self, key: str) -> bool:
        return self.settings.is_file() and bool(re.search(rf"^\s*{key}\s*=", self.settings.read_text(), re.M))

    def conftest_has_plugins(self) -> bool:
        return self.conftest.is_file() and bool(re.search(r"^pytest_plugins\b", self.conftest.read_text(), re.M))


def _pytest_settings_in(folder: Path) -> tuple[Path, str] | None:
    for name, sections in CONFIG_FILES:
        path = folder / name
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for section in sections:
            if re.search(rf"^\s*{re.escape(section)}\s*(#.*)?$", text, re.M):  # a comment may follow
                return path, section
        if name in ("pytest.ini", ".pytest.ini"):
            return path, sections[0]
    return None


def find_project(dest: Path) -> Project:
    """The rootdir pytest will pick for DEST, its settings file and the conftest.py to load plugins from."""
    dest = dest.resolve()
    folders = [dest, *dest.parents]
    for folder in folders:
        if found := _pytest_settings_in(folder):
            return _project(folder, *found, "the settings pytest reads for DEST", dest)
    for folder in folders:
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            marker = next(m for m in PROJECT_MARKERS if (folder / m).exists())
            note = f"no pytest settings yet; {marker} makes {folder} the rootdir"
            return _project(folder, folder / "pyproject.toml", "[tool.pytest.ini_options]", note, dest)
    # Nothing above DEST says where the project starts: the folder above the nearest test* one.
    tests = [f for f in folders if f.name.startswith("test")]
    root = tests[0].parent if tests else dest
    note = f"nothing above DEST marks a project: {root} taken as its root"
    return _project(root, root / "pyproject.toml", "[tool.pytest.ini_options]", note, dest)


def _project(rootdir: Path, settings: Path, section: str, found: str, dest: Path) -> Project:
    conftest = rootdir / "conftest.py"
    top = dest.relative_to(rootdir).parts[:1]
    # pytest also loads <rootdir>/test*/conftest.py before collecting: an existing one will do.
    if not conftest.is_file() and top and top[0].startswith("test") and (rootdir / top[0] / "conftest.py").is_file():
        conftest = rootdir / top[0] / "conftest.py"
    return Project(rootdir, settings, section, found, conftest, dest)


# The pytest settings every recipe relies on (its pitfall file declares pytester itself).
PYTEST_SETTINGS = [
    "# strict mode, pytest-asyncio's default, is all the recipes need",
    'asyncio_default_fixture_loop_scope = "function"',
    'asyncio_default_test_loop_scope = "function"',
]


def settings_lines(recipe: Recipe, project: Project) -> list[str]:
    """What to add to the project's pytest section."""
    lines = [line.replace('"', "") if project.ini_style else line for line in PYTEST_SETTINGS]
    # A key set twice is an error in TOML ("Cannot overwrite a value"): name only what is missing.
    lines = [line for line in lines if not project.has_setting(line.split(" = ")[0]) or line.startswith("#")]
    if len(lines) == 1:
        lines = ["# (both loop scopes are set already: nothing to add for them)"]
    if recipe.uses_postgres:
        lines += [f"# where {PLUGIN}.py is: it imports by that name in any layout", provider_setting(project)]
    return lines


def provider_setting(project: Project) -> str:
    """The pythonpath that makes the provider import by its name (a note, if the project sets one already)."""
    if project.has_setting("pythonpath"):
        return f"# (add {project.dest_from_root} to the pythonpath you have)"
    return project.setting("pythonpath", [project.dest_from_root])


def conftest_line(project: Project) -> str:
    if project.conftest_has_plugins():
        return f'# add "{PLUGIN}" to the pytest_plugins list you have'
    return f'pytest_plugins = ["{PLUGIN}"]'


def instructions(recipe: Recipe, dest: Path) -> str:
    project = find_project(dest)
    steps = [
        f"1. Install what it needs, into the venv your project tests with:\n     {install_command(recipe)}",
        f"2. pytest settings: add to the {project.section} section of {project.settings}\n"
        f"   ({project.found}):\n     " + "\n     ".join(settings_lines(recipe, project)),
    ]
    if recipe.uses_postgres:
        fixtures = " and ".join(f"`{name}`" for name in recipe.postgres_fixtures)
        create = "create it; " if not project.conftest.is_file() else ""
        steps.append(
            f"3. It needs {fixtures}, which the copied provider defines. Load it from\n"
            f"   {project.conftest} ({create}pytest honours pytest_plugins only\n"
            "   in a conftest it reads before collecting):\n"
            f"     {conftest_line(project)}\n"
            "   The server: DATABASE_URL if set, else the cookbook's docker compose service, else a\n"
            f"   throwaway cluster from local initdb (see {PLUGIN}.py).\n"
            "   Have a test database, or pytest-postgresql? Define the fixture yourself instead and\n"
            f"   delete the copied provider files: {DSN_DOC}"
        )
    target = (project.dest / recipe.name).relative_to(project.rootdir).as_posix()
    run = f"cd {shlex.quote(str(project.rootdir))} && pytest {shlex.quote(target)}"
    steps.append(f"{len(steps) + 1}. Run it, with the pytest of that venv:\n     {run}")
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
