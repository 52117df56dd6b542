"""`make coverage`: every recipe module is 100% covered (statements and branches) by its OWN recipe's tests.

Each recipe's tests run alone under coverage, with ``--source`` limited to that recipe's
folder and a data file of their own (COVERAGE_FILE), several recipes at a time. Coverage
of one recipe's module by another recipe's tests does not count. The modules are the
recipe's .py files except test_*.py, conftest.py and __init__.py.

A run over every recipe saves its figures to docs/results/coverage.json and rewrites the
table in docs/verification.md from them (see tools/doc_tables.py). A run over some recipes
only prints: a partial table must never replace the whole one.

    python -m tools.coverage_gate [--jobs N] [RECIPE ...]
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import coverage

from tools import doc_tables
from tools.common import (
    ROOT,
    Recipe,
    all_recipes,
    child_env,
    postgres_server,
    recipe_parser,
    run_parallel,
    table,
    tail,
)

PAGE = doc_tables.DOCS / "verification.md"
RESULTS_FILE = doc_tables.RESULTS / "coverage.json"
MARKER = "coverage"
HEADERS = ["recipe", "module", "statements", "missed", "branches", "br. missed", "cover"]


@dataclass
class Run:
    recipe: Recipe
    returncode: int
    output: str
    data_file: Path
    seconds: float


@dataclass
class ModuleCoverage:
    recipe: str
    module: str
    statements: int
    missed: int
    branches: int
    branches_missed: int
    excluded: int
    percent: float
    missing: str

    @property
    def complete(self) -> bool:
        return self.missed == 0 and self.branches_missed == 0


def run_recipe(recipe: Recipe, workdir: Path, dsn: str | None) -> Run:
    data_file = workdir / f".coverage.{recipe.name}"
    extra = {"COVERAGE_FILE": str(data_file), "COOKBOOK_REQUIRE_POSTGRES": "1"}
    if dsn is not None:
        extra["DATABASE_URL"] = dsn
    command = [
        sys.executable, "-m", "coverage", "run", "--branch", f"--source=recipes/{recipe.name}",
        "-m", "pytest", f"recipes/{recipe.name}", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=child_env(**extra), capture_output=True, text=True, check=False)
    return Run(recipe, done.returncode, done.stdout + done.stderr, data_file, time.monotonic() - started)


def measure(run: Run) -> list[ModuleCoverage]:
    report_file = run.data_file.with_suffix(".json")
    cov = coverage.Coverage(data_file=str(run.data_file))
    cov.load()
    modules = [str(m) for m in run.recipe.modules]
    try:
        cov.json_report(morfs=modules, outfile=str(report_file))
        files: dict[str, Any] = json.loads(report_file.read_text())["files"]
    except coverage.CoverageException:  # no data at all: the tests did not run
        files = {}
    by_path = {str((ROOT / path).resolve()): data for path, data in files.items()}
    rows = []
    for module in run.recipe.modules:
        data = by_path.get(str(module.resolve()))
        if data is None:
            rows.append(ModuleCoverage(run.recipe.name, module.name, 0, 0, 0, 0, 0, 0.0, "not measured"))
            continue
        summary = data["summary"]
        missing_lines: list[int] = data["missing_lines"]
        missing_branches: list[list[int]] = data.get("missing_branches", [])
        missing = [
            *(str(line) for line in missing_lines),
            *(f"{a}->{'exit' if b < 0 else b}" for a, b in missing_branches),
        ]
        rows.append(
            ModuleCoverage(
                recipe=run.recipe.name,
                module=module.name,
                statements=summary["num_statements"],
                missed=summary["missing_lines"],
                branches=summary.get("num_branches", 0),
                branches_missed=summary.get("missing_branches", 0),
                excluded=summary["excluded_lines"],
                percent=summary["percent_covered"],
                missing=", ".join(missing),
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(__doc__)
    args = parser.parse_args(argv)
    recipes = all_recipes(args.recipes)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="cookbook-coverage-") as tmp,
        postgres_server(any(r.uses_postgres for r in recipes)) as dsn,
    ):
        runs = run_parallel(lambda r: run_recipe(r, Path(tmp), dsn), recipes, args.jobs)
        rows = [row for run in runs for row in measure(run)]

    print(table(HEADERS, _cells(asdict(row) for row in rows)))
    failures = 0
    for run in runs:
        if run.returncode != 0:
            failures += 1
            print(f"\nFAIL {run.recipe.name}: its tests failed under coverage (exit {run.returncode})")
            print(tail(run.output))
    for row in rows:
        if not row.complete:
            failures += 1
            print(f"\nFAIL {row.recipe}/{row.module}: {_percent(row.percent)} covered; missing {row.missing}")
        if row.excluded:
            print(f"\nnote {row.recipe}/{row.module}: {row.excluded} line(s) excluded from measurement")
    total = len(rows)
    print(f"\ncoverage: {total - sum(not r.complete for r in rows)}/{total} modules at 100% in {len(runs)} recipes")
    slowest = sorted(runs, key=lambda r: -r.seconds)[:3]
    seconds = time.monotonic() - started
    print(f"coverage: {seconds:.0f} s; slowest: " + ", ".join(f"{r.recipe.name} {r.seconds:.1f} s" for r in slowest))
    doc_tables.publish_after_full_run(
        "coverage",
        (r.name for r in recipes),
        (r.name for r in all_recipes()),
        (PAGE, MARKER, RESULTS_FILE),
        render_markdown,
        lambda: {
            "command": "python -m tools.coverage_gate",
            "measured": doc_tables.today(),
            "source": doc_tables.source_version(),
            "seconds": round(seconds),
            "failed_runs": [run.recipe.name for run in runs if run.returncode != 0],
            "modules": [asdict(row) for row in rows],
        },
    )
    return 1 if failures else 0


def _cells(modules: Iterable[dict[str, Any]]) -> list[list[object]]:
    return [
        [
            m["recipe"],
            m["module"],
            m["statements"],
            m["missed"],
            m["branches"],
            m["branches_missed"],
            _percent(m["percent"]),
        ]
        for m in modules
    ]


def render_markdown(results: dict[str, Any]) -> str:
    """The table in docs/verification.md, from docs/results/coverage.json."""
    modules = results["modules"]
    complete = sum(m["missed"] == 0 and m["branches_missed"] == 0 for m in modules)
    recipes = len({m["recipe"] for m in modules})
    took = f", {results['seconds']} s" if results.get("seconds") is not None else ""
    lines = [
        f"Last full run: {complete} of {len(modules)} modules in {recipes} recipes at 100% of statements and "
        f"branches, by their own recipe's tests alone (`{results['command']}` at {results['source']}, "
        f"{results['measured']}{took}).",
        "",
        doc_tables.markdown_table(HEADERS, _cells(modules)),
    ]
    if results.get("failed_runs"):
        lines += ["", "Tests failed under coverage in: " + ", ".join(results["failed_runs"]) + "."]
    incomplete = [m for m in modules if m["missing"]]
    if incomplete:
        lines += ["", "Not covered:", ""]
        lines += [f"- `{m['recipe']}/{m['module']}`: {m['missing']}" for m in incomplete]
    return "\n".join(lines)


def _percent(value: float) -> str:
    # Round down, so that 99.97% never prints as 100%.
    return f"{math.floor(value * 10) / 10:.1f}%"


if __name__ == "__main__":
    sys.exit(main())
