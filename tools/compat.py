"""`make compat`: which versions each recipe works on, measured.

Each recipe's folder runs as its own pytest run in every column of a matrix:

- pytest-asyncio 0.23 to 1.4 (newest patch of each minor), each with the newest pytest its
  metadata allows (``Requires-Dist: pytest<9`` up to 1.2, ``<10`` in 1.3, no cap from 1.4);
- pytest 8.4 and 9.0 under the locked pytest-asyncio (1.4 and later need pytest >= 8.4);
- aiohttp 3.9, 3.12, 3.13 and 3.14.0, with a pytest-aiohttp that fits (1.1 needs aiohttp >= 3.11);
- pytest-aiohttp 1.0 and 1.1.0 under the locked aiohttp;
- the lock itself (.venv), and the lock on every other CPython >= 3.11 found here
  (the venvs of ``make test-pythons``).

A side venv holds the project's run-time and test packages (pyproject.toml) at the lock's
versions, except the column's pins. When pip finds a pin at odds with a locked version
(aiohttp 3.12 wants multidict < 7), the packages its error names are released from the lock
and the install is tried again; the column records what it released. The venvs live in
.venv-compat/, keyed on the Python, the pins and the lock, so a second run only runs tests.

The cookbook's pytest settings ([tool.pytest] in pyproject.toml, which pytest reads only from
9.0 on) are handed to every run as an ini file, less the options the column's pytest-asyncio
predates, and with pytest-timeout's ``--timeout`` so a hang fails its test instead of stalling
the matrix. A failed run is run once more (a pass then is shown as flaky). A cell is ``pass``,
``fail`` (with the first error line), ``n/a`` (the recipe uses a
feature the column's versions lack: FEATURES below says which, and the run still happens, so
a declaration that no longer holds is reported), or ``no install`` (pip's error line).

A full run writes docs/results/compat.json, the tables in docs/compatibility.md, and the
``**Works with:**`` line of every recipe README (tests/test_compat.py checks each line against
the results). ``--smoke`` runs only the lowest versions pyproject.toml allows (all at once)
and the lock, and writes nothing: it is the gate in ``make check``.

    python -m tools.compat [--jobs N] [--smoke] [--render] [--columns "KEY,..."] [RECIPE ...]
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.version import Version

from tools import doc_tables
from tools.common import (
    LOCK_FILE,
    RECIPES_DIR,
    ROOT,
    Recipe,
    all_recipes,
    build_venv,
    canonicalize_name,
    child_env,
    failed_tests,
    postgres_server,
    pytest_summary,
    recipe_parser,
    requirement_name,
    run_parallel,
    table,
)

VENVS = ROOT / ".venv-compat"
PAGE = doc_tables.DOCS / "compatibility.md"
RESULTS_FILE = doc_tables.RESULTS / "compat.json"
MARKER = "compat"
FLOORS_MARKER = "compat-floors"
# A hang is a failure, not a stuck matrix: pytest-timeout (in the test group) fails the test that
# hangs, with its traceback; a run that outlives RUN_TIMEOUT all the same is killed.
TEST_TIMEOUT, RUN_TIMEOUT = 60, 300
# The packages whose versions the matrix varies, in the order the Works-with line names them.
VARIED = ("pytest-asyncio", "pytest", "aiohttp", "pytest-aiohttp")
DASH = "\N{EN DASH}"
WORKS_WITH = re.compile(r"^\*\*Works with:\*\*.*$", re.M)
DOC_SECTION_LINE = re.compile(r"^\*\*Doc section:\*\*.*$", re.M)


@dataclass(frozen=True)
class Column:
    """One version set: ``group`` is what it varies (``lock``: nothing), ``pins`` what it installs."""

    key: str
    group: str
    pins: tuple[str, ...] = ()
    python: int = sys.version_info.minor


# pytest-asyncio 1.5 is the lock's; each older minor at its newest patch. pip picks the newest
# pytest each allows once the lock's pytest is released (the conflict loop below does that).
COLUMNS = (
    *(
        Column(f"pytest-asyncio {'.'.join(v.split('.')[:2])}", "pytest-asyncio", (f"pytest-asyncio=={v}", "pytest<10"))
        for v in ("0.23.8", "0.24.0", "0.25.3", "0.26.0", "1.0.0", "1.1.1", "1.2.0", "1.3.0", "1.4.1.post1")
    ),
    Column("lock", "lock"),
    # pytest 8.4 is the oldest that pytest-asyncio 1.4 and 1.5 accept; 9.0 the oldest 9.x.
    Column("pytest 8.4", "pytest", ("pytest==8.4.2",)),
    Column("pytest 9.0", "pytest", ("pytest==9.0.3",)),
    Column("aiohttp 3.9", "aiohttp", ("aiohttp==3.9.5", "pytest-aiohttp==1.0.5")),
    Column("aiohttp 3.12", "aiohttp", ("aiohttp==3.12.15",)),
    Column("aiohttp 3.13", "aiohttp", ("aiohttp==3.13.5",)),
    Column("aiohttp 3.14.0", "aiohttp", ("aiohttp==3.14.0",)),  # the lock's minor, first release
    Column("pytest-aiohttp 1.0", "pytest-aiohttp", ("pytest-aiohttp==1.0.5",)),
    Column("pytest-aiohttp 1.1.0", "pytest-aiohttp", ("pytest-aiohttp==1.1.0",)),
    *(Column(f"Python 3.{minor}", "python", (), minor) for minor in (12, 13, 14)),
)


@dataclass(frozen=True)
class Feature:
    """A feature some recipes use and older versions lack: a recipe whose files match ``pattern``
    is not applicable (n/a) on a column whose ``package`` is older than ``since``."""

    pattern: str
    package: str
    since: str
    reason: str

    def used_by(self, sources: Iterable[str]) -> bool:
        return any(re.search(self.pattern, text) for text in sources)


# Checked against each package's changelog; tests/test_compat.py checks each still matches a recipe.
FEATURES = (
    Feature(
        r"\bloop_scope\s*=", "pytest-asyncio", "0.24",
        "`loop_scope=` on the asyncio mark and on `pytest_asyncio.fixture` came in pytest-asyncio 0.24",
    ),
    Feature(
        r"asyncio_default_test_loop_scope", "pytest-asyncio", "0.26",
        "the `asyncio_default_test_loop_scope` setting came in pytest-asyncio 0.26",
    ),
    Feature(
        r"asyncio_debug|--asyncio-debug", "pytest-asyncio", "1.2",
        "the `asyncio_debug` setting and `--asyncio-debug` came in pytest-asyncio 1.2",
    ),
    Feature(
        r"pytest_asyncio_loop_factories|loop_factories\s*=", "pytest-asyncio", "1.4",
        "the `pytest_asyncio_loop_factories` hook and `loop_factories=` came in pytest-asyncio 1.4",
    ),
    Feature(
        r"from pytest_aiohttp import|pytest_aiohttp\.Aiohttp", "pytest-aiohttp", "1.1",
        "the plugin's types (`AiohttpClient`, `AiohttpServer`) are importable from `pytest_aiohttp` from 1.1 on",
    ),
    Feature(
        r"RaisesGroup|RaisesExc", "pytest", "8.4",
        "`pytest.RaisesGroup` came in pytest 8.4",
    ),
    Feature(
        r"\[tool\.pytest\][\\n\"']", "pytest", "9.0",
        "a `[tool.pytest]` table in pyproject.toml is read from pytest 9.0 on",
    ),
)  # fmt: skip
# Options of [tool.pytest] that older pytest-asyncio releases do not know (--strict-config refuses them).
OPTION_SINCE = {"asyncio_default_fixture_loop_scope": "0.24", "asyncio_default_test_loop_scope": "0.26"}


# --- what a run found ---


def first_error(output: str) -> str:
    """The line a reader needs first: the first ``E`` line of pytest's report, else its first error line."""
    lines = output.splitlines()
    for line in lines:
        if line.startswith("E ") and line[1:].strip():
            return line[1:].strip()
    for line in lines:
        if line.startswith(("ERROR: ", "INTERNALERROR>", "ImportError", "ModuleNotFoundError")):
            return line.strip()
    failed = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]
    if failed:
        return failed[0]
    return next((line.strip() for line in reversed(lines) if line.strip()), "no output")


def pip_error(text: str) -> str:
    """pip's ERROR line that says what failed (a missing version before a conflict), else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:") and "Ignored the following" not in line]
    for wanted in ("No matching distribution", "Could not find a version", "Cannot install"):
        if found := next((line for line in errors if wanted in line), None):
            return found
    return errors[0] if errors else lines[-1] if lines else "pip failed"


CONFLICT_NAMES = (
    re.compile(r"The user requested \(constraint\) ([A-Za-z0-9_.\-\[\]]+)=="),
    re.compile(r"^\s*([A-Za-z0-9_.\-]+) [0-9][^ ]* depends on ([A-Za-z0-9_.\-]+)", re.M),
    re.compile(r"Cannot install (.+?) because", re.S),
)


def conflicting_packages(pip_output: str) -> set[str]:
    """The package names a pip ResolutionImpossible error names (requested, depending, or depended on)."""
    names: set[str] = set()
    for pattern in CONFLICT_NAMES:
        for match in pattern.finditer(pip_output):
            for group in match.groups():
                names |= {requirement_name(part) for part in re.split(r",| and ", group) if part.strip()}
    return {name for name in names if name}


def conflict_causes(pip_output: str) -> str:
    """The lines under pip's "The conflict is caused by:", joined: which package wants what."""
    found = re.search(r"The conflict is caused by:\n((?:[ \t]+\S.*\n?)+)", pip_output)
    return "; ".join(line.strip() for line in found.group(1).splitlines()) if found else ""


def cell(returncode: int, output: str, na_reason: str, seconds: float) -> dict[str, Any]:
    """One recipe in one column, as the results file keeps it."""
    if returncode == 0:
        status, detail = "pass", ""
    else:
        failed = failed_tests(output)
        where = failed[0].split("/")[-1] + ": " if failed else ""
        detail = re.sub(r"\.venv-compat/\w+/", ".venv-compat/*/", (where + first_error(output)).replace(f"{ROOT}/", ""))
        status, detail = ("n/a" if na_reason else "fail"), detail[:300]
    return {
        "status": status,
        "reason": na_reason,
        "detail": detail,
        "summary": pytest_summary(output, returncode),
        "seconds": round(seconds, 1),
        "declared_na_but_passed": bool(na_reason) and returncode == 0,
    }


# --- what the results imply ---


def minor(version: str) -> str:
    release = Version(version).release
    return ".".join(str(part) for part in release[:2])


def supported(points: Sequence[tuple[str, bool]]) -> tuple[str, str] | None:
    """(lowest, highest) of the run of passing versions that ends at the newest one tested, or None."""
    ordered = sorted(points, key=lambda point: Version(point[0]))
    if not ordered or not ordered[-1][1]:
        return None
    low = len(ordered) - 1
    while low > 0 and ordered[low - 1][1]:
        low -= 1
    return ordered[low][0], ordered[-1][0]


def group_versions(results: dict[str, Any], group: str) -> list[tuple[str, str]]:
    """(column key, the version of ``group``'s package there) for the group's columns and the lock."""
    found = []
    for column in results["columns"]:
        if column["group"] not in (group, "lock") or column.get("error"):
            continue
        version = column["installed"].get(group if group != "python" else "python", "")
        if version:
            found.append((column["key"], version))
    return found


def recipe_range(results: dict[str, Any], recipe: str, group: str) -> tuple[str, str] | None:
    cells = results["recipes"][recipe]["cells"]
    points = [(version, cells.get(key, {}).get("status") == "pass") for key, version in group_versions(results, group)]
    return supported(points)


def works_with(results: dict[str, Any], recipe: str) -> str:
    """The README line the results imply, e.g. ``**Works with:** pytest-asyncio 0.24-1.5, ..., Python 3.11-3.13``.

    Ranges (pytest-asyncio, Python) run from the lowest passing version to the newest tested, joined by
    an en dash; the other packages get a floor (``aiohttp 3.12+``). aiohttp and pytest-aiohttp are named
    only for recipes that need them.
    """
    needs = set(results["recipes"][recipe]["needs"])
    parts = []
    for group, label, shape in (
        ("pytest-asyncio", "pytest-asyncio", "range"),
        ("pytest", "pytest", "floor"),
        ("aiohttp", "aiohttp", "floor"),
        ("pytest-aiohttp", "pytest-aiohttp", "floor"),
        ("python", "Python", "range"),
    ):
        if group in ("aiohttp", "pytest-aiohttp") and group not in needs:
            continue
        found = recipe_range(results, recipe, group)
        if found is None:
            parts.append(f"{label}: none of the versions tested")
            continue
        low, high = minor(found[0]), minor(found[1])
        if shape == "floor":
            parts.append(f"{label} {low}+")
        else:
            parts.append(f"{label} {low}{DASH}{high}" if low != high else f"{label} {low}")
    return "**Works with:** " + ", ".join(parts)


def floors(results: dict[str, Any]) -> dict[str, str]:
    """Per varied package: the lowest version tested from which every recipe passes every newer column."""
    found: dict[str, str] = {}
    for group in VARIED:
        versions = dict(group_versions(results, group))
        lows = [recipe_range(results, recipe, group) for recipe in results["recipes"]]
        if versions and all(lows):
            found[group] = max((low[0] for low in lows if low), key=Version)
    return found


def declared_floors() -> dict[str, str]:
    """Per varied package: the ``>=`` bound pyproject.toml declares."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entries = [*pyproject["project"]["dependencies"], *pyproject["dependency-groups"]["test"]]
    bounds = {}
    for entry in entries:
        requirement = Requirement(entry)
        name = canonicalize_name(requirement.name)
        for spec in requirement.specifier:
            if name in VARIED and spec.operator == ">=":
                bounds[name] = spec.version
    return bounds


# --- the page ---


def _cell_text(
    recipe: str, entry: dict[str, Any] | None, notes: dict[tuple[str, str], int], reasons: dict[str, str]
) -> str:
    if entry is None:
        return ""
    status = entry["status"]
    if status == "pass":
        return "pass (flaky)" if entry.get("flaky") else "pass"
    if status == "n/a":
        letter = reasons.setdefault(entry["reason"], chr(ord("a") + len(reasons)))
        return f"n/a ({letter})"
    number = notes.setdefault((recipe, entry["detail"]), len(notes) + 1)
    return f"{status} [{number}]"


def column_label(column: dict[str, Any]) -> str:
    return column["key"] if column["group"] != "lock" else "lock"


def render_markdown(results: dict[str, Any]) -> str:
    """The matrix in docs/compatibility.md, from docs/results/compat.json."""
    columns = [c for c in results["columns"] if not c.get("missing")]
    notes: dict[tuple[str, str], int] = {}
    reasons: dict[str, str] = {}
    rows = []
    for name, recipe in sorted(results["recipes"].items()):
        rows.append([f"`{name}`", *(_cell_text(name, recipe["cells"].get(c["key"]), notes, reasons) for c in columns)])
    passing = [
        sum(recipe["cells"].get(c["key"], {}).get("status") == "pass" for recipe in results["recipes"].values())
        for c in columns
    ]
    rows.append(["**passing**", *(f"{count}/{len(results['recipes'])}" for count in passing)])
    versions = [
        [
            column_label(c),
            *(c["installed"].get(p, "") for p in ("python", *VARIED)),
            ", ".join(c.get("released", [])) or "",
            c.get("error", ""),
        ]
        for c in results["columns"]
    ]
    lines = [
        f"Last full run: {len(results['recipes'])} recipes in {len(columns)} columns, "
        f"`{results['command']}` at {results['source']}, {results['measured']}, {results['seconds']} s "
        f"({results['jobs']} runs at a time; load average {results['load']} at the start).",
        "",
        doc_tables.markdown_table(["recipe", *(column_label(c) for c in columns)], rows),
        "",
        "What each column installed (every other package at its `requirements.lock` version; "
        "*released*: locked packages pip had to choose again to fit the pins):",
        "",
        doc_tables.markdown_table(["column", "Python", *VARIED, "released from the lock", "not run"], versions),
    ]
    if reasons:
        lines += ["", "Not applicable (the recipe uses something the column's versions lack):", ""]
        lines += [f"- ({letter}) {reason}" for reason, letter in reasons.items()]
    if notes:
        lines += ["", "Failures, first error line:", ""]
        lines += [f"{number}. `{recipe}`: {detail}" for (recipe, detail), number in notes.items()]
    flaky = [
        f"`{name}` in {key}: {entry['flaky']}" for name, recipe in sorted(results["recipes"].items())
        for key, entry in recipe["cells"].items() if entry.get("flaky")
    ]  # fmt: skip
    if flaky:
        lines += ["", "Flaky (failed, then passed when run again; first failure):", ""]
        lines += [f"- {line}" for line in flaky]
    surprises = [
        f"`{name}` in {key}" for name, recipe in sorted(results["recipes"].items())
        for key, entry in recipe["cells"].items() if entry.get("declared_na_but_passed")
    ]  # fmt: skip
    if surprises:
        lines += ["", "Declared not applicable, yet passed (narrow the declaration): " + ", ".join(surprises)]
    return "\n".join(lines)


def render_floors(results: dict[str, Any]) -> str:
    """The proven floors, the recipes that set each one, and the recipes that also work below them."""
    found = floors(results)
    rows, below = [], []
    for group in VARIED:
        floor = found.get(group)
        lows = {name: recipe_range(results, name, group) for name in results["recipes"]}
        oldest = min((v for _, v in group_versions(results, group)), key=Version, default=None)
        if floor is None:
            rows.append([group, "none of the versions tested", ""])
            continue
        set_by = sorted(name for name, low in lows.items() if low and low[0] == floor) if floor != oldest else []
        rows.append([group, floor, ", ".join(f"`{name}`" for name in set_by) or "every recipe passes on the oldest"])
    for name in sorted(results["recipes"]):
        older = []
        needs = set(results["recipes"][name]["needs"])
        for group in VARIED:
            if group in ("aiohttp", "pytest-aiohttp") and group not in needs:
                continue  # passing where it does not matter says nothing
            low = recipe_range(results, name, group)
            if low and group in found and Version(low[0]) < Version(found[group]):
                older.append(f"{group} {minor(low[0])}")
        if older:
            below.append(f"- `{name}`: {', '.join(older)}")
    lines = [
        "The lowest versions on which every recipe passes; `pyproject.toml` declares them as its `>=` bounds. "
        "No recipe needs more than these: each floor is what its most demanding recipes need, and the "
        "last column names them.",
        "",
        doc_tables.markdown_table(["package", "floor", "set by (these fail on the next older version)"], rows),
        "",
        "Recipes that also pass on versions older than the floor (the oldest tested; each README's "
        "**Works with** line has the whole range):",
        "",
        *(below or ["- none"]),
    ]
    return "\n".join(lines)


# --- the READMEs ---


def with_works_with(text: str, line: str) -> str:
    """The README text with its Works-with line set to ``line``: replaced, or put after the Doc section line."""
    if WORKS_WITH.search(text):
        return WORKS_WITH.sub(lambda _: line, text, count=1)
    found = DOC_SECTION_LINE.search(text)
    if not found:
        raise ValueError("no **Doc section:** line to put the Works-with line after")
    return text[: found.end()] + "\n\n" + line + text[found.end() :]


def write_readmes(results: dict[str, Any]) -> list[str]:
    """Set each measured recipe's Works-with line (re-reading each README just before writing it)."""
    changed = []
    for name in sorted(results["recipes"]):
        readme = RECIPES_DIR / name / "README.md"
        if not readme.is_file():
            continue
        text = readme.read_text()
        updated = with_works_with(text, works_with(results, name))
        if updated != text:
            readme.write_text(updated)
            changed.append(name)
    return changed


# --- running the matrix ---


@dataclass
class Env:
    column: Column
    python: Path | None  # the venv's interpreter; None: that CPython is not on this machine
    error: str = ""
    released: list[str] = field(default_factory=list)
    installed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def lock_lines() -> list[str]:
    return [line for line in LOCK_FILE.read_text().splitlines() if line.strip() and not line.startswith("#")]


def project_packages() -> list[str]:
    """What a cell installs: pyproject.toml's run-time and test requirements, by name (the lock sets versions)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = []
    for entry in [*pyproject["project"]["dependencies"], *pyproject["dependency-groups"]["test"]]:
        requirement = Requirement(entry)
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        marker = f"; {requirement.marker}" if requirement.marker else ""
        names.append(f"{requirement.name}{extras}{marker}")
    return names


def venv_dir(column: Column) -> Path:
    text = "\n".join([sys.version, *column.pins, *project_packages(), LOCK_FILE.read_text()])
    return VENVS / hashlib.sha256(text.encode()).hexdigest()[:12]


def installed_versions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, platform; "
        "print(json.dumps({'python': platform.python_version(), "
        "**{d.metadata['Name'].lower().replace('_', '-'): d.version for d in m.distributions()}}))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=child_env(), check=True)
    found: dict[str, str] = json.loads(done.stdout)
    return found


def build_side_venv(column: Column, path: Path) -> Env:
    """The column's venv: the project's packages at the lock's versions but for the pins, conflicts released."""
    env = Env(column, path / "bin" / "python")
    pinned = {requirement_name(pin) for pin in column.pins}
    released_file = path / "released.json"
    if (path / ".ready").is_file() and released_file.is_file():
        env.released = json.loads(released_file.read_text())
        return env
    released: list[str] = []
    packages = [*(p for p in project_packages() if requirement_name(p) not in pinned), *column.pins]
    for _ in range(6):
        constraints = "\n".join(line for line in lock_lines() if requirement_name(line) not in pinned | set(released))
        error = build_venv(path, packages, constraints + "\n")
        if not error:
            released_file.write_text(json.dumps(released))
            env.released = released
            return env
        locked = {requirement_name(line) for line in lock_lines()}
        more = sorted((conflicting_packages(explain(path, packages)) & locked) - pinned - set(released))
        if not more:
            break
        released += more
    causes = conflict_causes(explain(path, packages))
    env.error = f"pip could not install {' '.join(column.pins)}: {pip_error(error)}" + (
        f" ({causes})" if causes else ""
    )
    return env


def explain(path: Path, packages: list[str]) -> str:
    """pip's account of a failed resolution: a dry run without --quiet names the conflicting packages."""
    command = [
        sys.executable, "-m", "pip", "--python", str(path / "bin" / "python"), "install", "--dry-run",
        "--disable-pip-version-check", "--constraint", str(path / "constraints.txt"), *packages,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=child_env(), check=False)
    return done.stdout + done.stderr


def prepare(column: Column) -> Env:
    """Build (or find) the column's venv and read what it holds."""
    started = time.monotonic()
    if column.group == "lock":
        env = Env(column, ROOT / ".venv" / "bin" / "python")
    elif column.group == "python":
        from tools import test_pythons

        target = next(t for t in test_pythons.targets() if t.minor == column.python)
        if target.python is None:
            return Env(column, None, error=f"CPython 3.{column.python} is not installed here")
        env = Env(column, target.venv / "bin" / "python")
        if error := test_pythons.ensure_venv(target):
            env.error = f"the venv for 3.{column.python} was not built: {pip_error(error)}"
    else:
        env = build_side_venv(column, venv_dir(column))
    if not env.error and env.python is not None:
        env.installed = installed_versions(env.python)
    env.seconds = time.monotonic() - started
    return env


def ini_for(env: Env) -> str:
    """The cookbook's [tool.pytest] settings as a pytest.ini, less the options this pytest-asyncio predates."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    version = Version(env.installed.get("pytest-asyncio", "0"))
    lines = ["[pytest]"]
    for key, value in settings.items():
        if key in OPTION_SINCE and version < Version(OPTION_SINCE[key]):
            continue
        if key == "addopts":
            lines.append(f"addopts = {' '.join(value)}")
        elif isinstance(value, list):
            lines.append(f"{key} =" + "".join(f"\n    {item}" for item in value))
        elif isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def not_applicable(recipe: Recipe, env: Env) -> str:
    """Why ``recipe`` cannot work on ``env``'s versions, or ""."""
    sources = [path.read_text() for path in recipe.sources]
    for feature in FEATURES:
        have = env.installed.get(feature.package)
        if have and Version(have) < Version(feature.since) and feature.used_by(sources):
            return feature.reason
    return ""


def run_pytest(env: Env, ini: Path, recipes: Sequence[Recipe], dsn: str | None) -> tuple[int, str]:
    """One pytest run of ``recipes``' folders in ``env``, from the cookbook root (so with its conftest)."""
    extra = {"COOKBOOK_REQUIRE_POSTGRES": "1"} | ({"DATABASE_URL": dsn} if dsn else {})
    assert env.python is not None
    command = [
        str(env.python), "-m", "pytest", *(f"recipes/{recipe.name}" for recipe in recipes), "-c", str(ini),
        "--rootdir", str(ROOT), "--confcutdir", str(ROOT), "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
    ]  # fmt: skip
    if "pytest-timeout" in env.installed:
        command.append(f"--timeout={TEST_TIMEOUT}")
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=child_env(**extra), capture_output=True, text=True, check=False, timeout=RUN_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return 1, f"ERROR: the run was killed after {RUN_TIMEOUT} s"
    return done.returncode, done.stdout + done.stderr


def run_cell(recipe: Recipe, env: Env, ini: Path, dsn: str | None) -> dict[str, Any]:
    """The recipe's run in the column; a failure is run once more, and a pass then is a flaky pass."""
    if env.python is None or env.error:
        return {"status": "no install", "reason": "", "detail": env.error, "summary": "", "seconds": 0.0}
    started = time.monotonic()
    reason = not_applicable(recipe, env)
    returncode, output = run_pytest(env, ini, [recipe], dsn)
    entry = cell(returncode, output, reason, time.monotonic() - started)
    if entry["status"] == "fail":
        again = cell(*run_pytest(env, ini, [recipe], dsn), reason, time.monotonic() - started)
        if again["status"] == "pass":
            again["flaky"] = entry["detail"]  # what the first run failed with
        entry = again
    return entry


def smoke(envs: Sequence[Env], inis: dict[str, Path], recipes: Sequence[Recipe], jobs: int) -> int:
    """One pytest run of every recipe per smoke column: fast, and a failure names its tests."""

    def run(env: Env) -> tuple[Env, int, str, float]:
        started = time.monotonic()
        if env.error or env.python is None:
            return env, 1, env.error, 0.0
        returncode, output = run_pytest(env, inis[env.column.key], recipes, dsn)
        return env, returncode, output, time.monotonic() - started

    with postgres_server(any(r.uses_postgres for r in recipes)) as dsn:
        runs = run_parallel(run, list(envs), jobs)
    failed = 0
    for env, returncode, output, seconds in runs:
        versions = ", ".join(f"{p} {env.installed.get(p, '?')}" for p in ("python", *VARIED))
        verdict = "ok  " if returncode == 0 else "FAIL"
        print(f"compat --smoke: {verdict} {env.column.key} ({versions}): {pytest_summary(output, returncode)} "
              f"[{seconds:.0f} s]")  # fmt: skip
        if returncode != 0:
            failed += 1
            names = failed_tests(output)
            print("  " + ("\n  ".join(names) if names else first_error(output)))
            if names:
                print(f"  first error: {first_error(output)}")
    return 1 if failed else 0


def smoke_columns() -> tuple[Column, ...]:
    """The lowest versions pyproject.toml allows, all at once, and the lock."""
    pins = tuple(f"{name}=={version}" for name, version in sorted(declared_floors().items()))
    return (Column("floor", "floor", pins), Column("lock", "lock"))


def load_average() -> str:
    try:
        return " ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(__doc__, "venv builds and recipe runs at a time")
    parser.add_argument("--smoke", action="store_true", help="only the floor (pyproject's >= bounds) and the lock")
    parser.add_argument("--render", action="store_true", help="re-render docs and READMEs from the saved results")
    parser.add_argument("--columns", help="comma-separated column keys to run (prints only)")
    args = parser.parse_args(argv)
    if args.render:
        return render_saved()
    recipes = all_recipes(args.recipes)
    columns = smoke_columns() if args.smoke else COLUMNS
    if args.columns:
        wanted = {key.strip() for key in args.columns.split(",")}
        columns = tuple(c for c in columns if c.key in wanted)
    started, load = time.monotonic(), load_average()
    print(f"compat: {len(recipes)} recipes x {len(columns)} columns; load average {load}", flush=True)

    if not args.recipes and not args.columns and not args.smoke and VENVS.is_dir():
        keep = {venv_dir(c) for c in (*columns, *smoke_columns()) if c.group not in ("lock", "python")}
        for stale in VENVS.iterdir():
            if stale.is_dir() and stale not in keep and stale.name != "ini":
                shutil.rmtree(stale, ignore_errors=True)
    envs = run_parallel(prepare, list(columns), args.jobs)
    for env in envs:
        state = f"NOT BUILT: {env.error}" if env.error else "ready"
        released = f" (released from the lock: {', '.join(env.released)})" if env.released else ""
        print(f"compat: {env.column.key}: {state}{released} [{env.seconds:.0f} s]", flush=True)
    (VENVS / "ini").mkdir(parents=True, exist_ok=True)
    inis = {}
    for env in envs:
        inis[env.column.key] = VENVS / "ini" / f"{re.sub(r'[^a-z0-9.]+', '-', env.column.key.lower())}.ini"
        inis[env.column.key].write_text(ini_for(env))
    if args.smoke:
        status = smoke(envs, inis, recipes, args.jobs)
        print(f"compat --smoke: {time.monotonic() - started:.0f} s (load average at the start: {load})")
        return status

    pairs = [(env, recipe) for env in envs for recipe in recipes]
    with postgres_server(any(r.uses_postgres for r in recipes)) as dsn:
        cells = run_parallel(lambda pair: run_cell(pair[1], pair[0], inis[pair[0].column.key], dsn), pairs, args.jobs)
    seconds = round(time.monotonic() - started)
    results = {
        "command": "python -m tools.compat",
        "measured": doc_tables.today(),
        "source": doc_tables.source_version(),
        "seconds": seconds,
        "jobs": args.jobs,
        "load": load,
        "machine": f"{os.cpu_count()} cores, {platform.system()}",
        "columns": [
            {
                "key": env.column.key,
                "group": env.column.group,
                "pins": list(env.column.pins),
                "installed": {k: env.installed[k] for k in ("python", *VARIED) if k in env.installed},
                "released": env.released,
                "error": env.error,
                "missing": env.python is None,
            }
            for env in envs
        ],
        "recipes": {recipe.name: {"needs": list(recipe.needs), "cells": {}} for recipe in recipes},
    }
    for (env, recipe), entry in zip(pairs, cells, strict=True):
        if env.python is not None:
            results["recipes"][recipe.name]["cells"][env.column.key] = entry
    report(results)
    broken = [
        (name, key)
        for name, recipe in results["recipes"].items()
        for key, entry in recipe["cells"].items()
        if entry["status"] in ("fail", "no install") and key in ("lock", "floor")
    ]
    if args.columns:
        print("compat: some columns only, so nothing is written")
    else:
        doc_tables.publish_after_full_run(
            "compat", (r.name for r in recipes), (r.name for r in all_recipes()),
            (PAGE, MARKER, RESULTS_FILE), render_markdown, lambda: results,
        )  # fmt: skip
        if set(results["recipes"]) == {r.name for r in all_recipes()}:
            publish_floors_and_readmes(results)
    print(f"compat: {seconds} s")
    return 1 if broken else 0


def publish_floors_and_readmes(results: dict[str, Any]) -> None:
    PAGE.write_text(doc_tables.replace_between_markers(PAGE.read_text(), FLOORS_MARKER, render_floors(results)))
    changed = write_readmes(results)
    print(f"compat: Works-with line written in {len(changed)} recipe README(s)")


def render_saved() -> int:
    results = doc_tables.load(RESULTS_FILE)
    text = doc_tables.replace_between_markers(PAGE.read_text(), MARKER, render_markdown(results))
    PAGE.write_text(doc_tables.replace_between_markers(text, FLOORS_MARKER, render_floors(results)))
    changed = write_readmes(results)
    print(f"compat: re-rendered {doc_tables.shown(PAGE)} and {len(changed)} README line(s) from the saved results")
    return 0


def report(results: dict[str, Any]) -> None:
    """The matrix in the terminal, then every failure and every unexpected pass."""
    keys = [c["key"] for c in results["columns"] if not c.get("missing")]
    short = {"pass": "ok", "fail": "FAIL", "n/a": "n/a", "no install": "NOINST"}
    rows = [
        [name, *(short.get(recipe["cells"].get(k, {}).get("status", ""), "") for k in keys)]
        for name, recipe in sorted(results["recipes"].items())
    ]
    print(table(["recipe", *(k.replace("pytest-asyncio ", "pa ") for k in keys)], rows))
    for column in results["columns"]:
        if column.get("missing"):
            print(f"\nnot run: {column['key']}: {column['error']}")
        elif column["error"]:
            print(f"\nNO INSTALL {column['key']}: {column['error']}")
    for name, recipe in sorted(results["recipes"].items()):
        for key, entry in recipe["cells"].items():
            if entry["status"] == "fail":
                print(f"\nFAIL {name} on {key}: {entry['detail']} ({entry['summary']})")
            if entry.get("flaky"):
                print(f"\nflaky {name} on {key}: failed, then passed when run again: {entry['flaky']}")
            if entry.get("declared_na_but_passed"):
                print(f"\nnote {name} on {key}: declared n/a ({entry['reason']}) but passed")


if __name__ == "__main__":
    sys.exit(main())
