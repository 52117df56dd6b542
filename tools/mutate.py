"""`make mutate`: mutation testing, recipe by recipe; each recipe's tests must kill >= 90% of its mutants.

For every recipe, mutmut mutates only that recipe's module(s) and runs only that recipe's
tests against each mutant. Each recipe gets a workspace of its own (a copy of the root
conftest/provider files, pyproject.toml with a [tool.mutmut] section, and the recipe), so
several recipes run at once without sharing mutmut's ``mutants/`` folder.

The score counts what the tests catch: killed (a test failed) and timeouts (a test hung)
over all mutants. Survivors, mutants that no test reached, and suspicious ones all count
against it. mypy is not used as a filter: a mutant that only the type checker would
reject still has to be caught by a test, or be listed here as a survivor to judge.

One class of survivor is provably equivalent and is left out of the score (listed in its
own column and printed): changing only the letter case of an SQL statement in a recipe
that talks to PostgreSQL, when the statement holds no quoted part. PostgreSQL folds
unquoted keywords and identifiers, so such a mutant is the same program.

Other survivors judged equivalent are listed, each with its reason, in
``tools/equivalent_mutants.toml``, matched by recipe, function and the mutated line(s)
(not by mutmut's number, which shifts when code moves). They are left out of the score
too, and printed, so the judgement stays visible and reviewable.

Tests that copy the module's source into a pytester sandbox run the mutated source in a
subprocess (runpytest_subprocess, xdist workers). mutmut's trampoline needs its config
there, and mutmut reads it only from the current directory, so the run puts a small
``sitecustomize`` on PYTHONPATH that loads it from the workspace.

A run over every recipe saves its figures to docs/results/mutation.json and rewrites the
table in docs/verification.md from them (see tools/doc_tables.py). A run over some recipes,
the usual way to check one change, only prints: a partial table must never replace the
whole one.

    python -m tools.mutate [--jobs N] [--keep] [RECIPE ...]
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

THRESHOLD = 90.0
PAGE = doc_tables.DOCS / "verification.md"
RESULTS_FILE = doc_tables.RESULTS / "mutation.json"
MARKER = "mutation"
REVIEWED = Path(__file__).with_name("equivalent_mutants.toml")
MUTMUT = Path(sys.executable).parent / "mutmut"
RECIPE_TIMEOUT = 20 * 60  # seconds; a recipe that takes longer fails the run with its log tail
KILLED = ("killed", "timeout")
RESULT_LINE = re.compile(r"^\s*(?P<key>\S+): (?P<status>.+?)\s*$")
EQUIVALENT = "equivalent"
SQL_STATEMENT = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|DROP|ALTER|TRUNCATE|LISTEN|UNLISTEN|NOTIFY)\s", re.IGNORECASE
)
QUOTED = re.compile(r"[\"']|\$\w*\$")  # a quoted identifier or literal, or a dollar-quoted string
STRING_LITERAL = re.compile(r"\"((?:\\.|[^\"\\])*)\"|'((?:\\.|[^'\\])*)'")
# Seconds a mutant may run: (its tests' measured time + constant) * multiplier. mutmut's
# default multiplier (15) makes every hanging mutant cost 15 s or more; the recipes bound
# their own waits, so a hang is rare and 5x is ample headroom on a loaded machine.
TIMEOUT_MULTIPLIER = 5.0
SITECUSTOMIZE = """\
# Written by tools/mutate.py: load mutmut's config for processes started from a sandbox.
import os

_workspace = os.environ.get("COOKBOOK_MUTMUT_WORKSPACE")
if _workspace:
    _cwd = os.getcwd()
    try:
        os.chdir(_workspace)
        from mutmut.configuration import config

        config()
    finally:
        os.chdir(_cwd)
"""


@dataclass
class Outcome:
    recipe: Recipe
    statuses: dict[str, str] = field(default_factory=dict)  # mutant key -> mutmut status
    diffs: dict[str, str] = field(default_factory=dict)  # mutant key -> its diff, for those not killed
    error: str = ""
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return len(self.statuses)

    @property
    def killed(self) -> int:
        return sum(status in KILLED for status in self.statuses.values())

    @property
    def equivalent(self) -> int:
        return sum(status == EQUIVALENT for status in self.statuses.values())

    @property
    def score(self) -> float:
        counted = self.total - self.equivalent
        return 100.0 * self.killed / counted if counted else 0.0

    @property
    def passed(self) -> bool:
        return not self.error and self.total > 0 and self.score >= THRESHOLD


def prepare_workspace(recipe: Recipe, base: Path) -> Path:
    """A minimal copy of the repo holding this one recipe, configured for mutmut."""
    work = base / recipe.name
    (work / "recipes").mkdir(parents=True)
    support = sorted(p.name for p in ROOT.glob("*.py"))  # conftest.py and the plugins it loads
    for name in support:
        shutil.copy2(ROOT / name, work / name)
    shutil.copy2(ROOT / "recipes" / "__init__.py", work / "recipes" / "__init__.py")
    shutil.copytree(recipe.path, work / "recipes" / recipe.name, ignore=shutil.ignore_patterns("__pycache__"))
    folder = f"recipes/{recipe.name}"
    settings = {
        "source_paths": [folder],
        "only_mutate": [f"{folder}/{module.name}" for module in recipe.modules],
        "also_copy": [*support, "recipes/__init__.py"],
        "pytest_add_cli_args_test_selection": [folder],
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
        "use_git_change_detection": False,
        "timeout_multiplier": TIMEOUT_MULTIPLIER,
    }
    pyproject = (ROOT / "pyproject.toml").read_text()
    if "[tool.mutmut]" in pyproject:
        raise SystemExit("pyproject.toml has a [tool.mutmut] section: tools/mutate.py writes its own per recipe")
    section = "\n".join(f"{key} = {json.dumps(value)}" for key, value in settings.items())
    (work / "pyproject.toml").write_text(f"{pyproject}\n[tool.mutmut]\n{section}\n")
    return work


def mutate(recipe: Recipe, base: Path, dsn: str | None, children: int) -> Outcome:
    outcome = Outcome(recipe)
    started = time.monotonic()
    work = prepare_workspace(recipe, base)
    site = base / "_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = child_env(
        COOKBOOK_REQUIRE_POSTGRES="1",
        COOKBOOK_MUTMUT_WORKSPACE=str(work),
        PYTHONPATH=str(site),
        **({"DATABASE_URL": dsn} if dsn else {}),
    )
    log = work / "mutmut.log"
    try:
        with log.open("w") as out:
            done = subprocess.run(
                [str(MUTMUT), "run", "--max-children", str(children)],
                cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=RECIPE_TIMEOUT, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            outcome.error = f"mutmut exited {done.returncode}:\n{tail(_readable(log.read_text()))}"
    except subprocess.TimeoutExpired:
        outcome.error = f"mutmut took over {RECIPE_TIMEOUT} s:\n{tail(_readable(log.read_text()))}"
    if not outcome.error:
        listing = subprocess.run(
            [str(MUTMUT), "results", "--all", "true"], cwd=work, env=env, capture_output=True, text=True, check=True
        ).stdout
        for line in listing.splitlines():
            if match := RESULT_LINE.match(line):
                outcome.statuses[match["key"]] = match["status"]
        for key, status in outcome.statuses.items():
            if status not in KILLED:
                shown = subprocess.run(
                    [str(MUTMUT), "show", key], cwd=work, env=env, capture_output=True, text=True, check=False
                )
                outcome.diffs[key] = shown.stdout
                if status == "survived" and (
                    (talks_sql(recipe) and sql_case_only(shown.stdout))
                    or reviewed_equivalent(recipe.name, key, shown.stdout)
                ):
                    outcome.statuses[key] = EQUIVALENT
    outcome.seconds = time.monotonic() - started
    return outcome


def reviewed_equivalent(recipe: str, key: str, diff: str) -> bool:
    """True if tools/equivalent_mutants.toml lists this survivor (recipe, function, mutated lines)."""
    function = short_name(key).split(": ", 1)[1].rsplit(" #", 1)[0]
    added = " ".join(
        line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")
    )
    for entry in tomllib.loads(REVIEWED.read_text()).get("mutant", []):
        if entry["recipe"] == recipe and entry["function"] == function and entry["mutated"] == added:
            return True
    return False


def talks_sql(recipe: Recipe) -> bool:
    return recipe.uses_postgres or "asyncpg" in recipe.needs


def sql_case_only(diff: str) -> bool:
    """True if the mutant only changes the letter case of SQL statements that hold no quoted part."""
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    if not removed or len(removed) != len(added):
        return False
    for before, after in zip(removed, added, strict=True):
        if before == after:
            continue
        if before.lower() != after.lower():
            return False  # more than a change of case
        for old, new in zip(STRING_LITERAL.finditer(before), STRING_LITERAL.finditer(after), strict=False):
            body = old.group(1) if old.group(1) is not None else old.group(2)
            if old.group(0) != new.group(0) and not (SQL_STATEMENT.match(body) and not QUOTED.search(body)):
                return False
        outside = STRING_LITERAL.sub("", before), STRING_LITERAL.sub("", after)
        if outside[0] != outside[1]:
            return False  # the case changed outside the string literals
    return True


def _readable(log: str) -> str:
    """mutmut redraws a spinner with carriage returns; keep the last state of each line."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in log.splitlines())


def short_name(key: str) -> str:
    """recipes.x.module.xǁClassǁmethod__mutmut_3 -> module: Class.method #3"""
    module_path, _, mangled = key.rpartition(".")
    function, _, number = mangled.rpartition("__mutmut_")
    if function.startswith("xǁ"):
        function = function.removeprefix("xǁ").replace("ǁ", ".")
    else:
        function = function.removeprefix("x_")
    return f"{module_path.rpartition('.')[2]}: {function} #{number}"


def changed_lines(diff: str) -> str:
    """The -/+ lines of a mutant's diff, on one line each, trimmed."""
    lines = [
        line[0] + " " + line[1:].strip()
        for line in diff.splitlines()
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    ]
    return "\n".join(f"      {line}" for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(__doc__)
    parser.add_argument("--children", type=int, default=1, help="mutants at a time within a recipe (default: 1)")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces (mutmut browse/show there)")
    args = parser.parse_args(argv)
    recipes = all_recipes(args.recipes)
    if not MUTMUT.is_file():
        raise SystemExit(f"{MUTMUT} not found: `make lint` (or any target) installs the dev tools")
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="cookbook-mutate-"))
    try:
        with postgres_server(any(r.uses_postgres for r in recipes)) as dsn:
            # Slowest first (by test file size) so the last recipes do not run alone.
            order = sorted(recipes, key=lambda r: -sum(p.stat().st_size for p in r.sources))
            outcomes = {
                o.recipe.name: o for o in run_parallel(lambda r: mutate(r, base, dsn, args.children), order, args.jobs)
            }
    finally:
        if args.keep:
            print(f"workspaces kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    ordered = [outcomes[r.name] for r in recipes]
    rows = []
    for o in ordered:
        counts = Counter(o.statuses.values())
        other = o.total - o.killed - counts["survived"] - o.equivalent
        rows.append(
            [
                o.recipe.name, o.total, o.killed, counts["survived"], other, o.equivalent,
                f"{o.score:.1f}%", f"{o.seconds:.0f}",
            ]
        )  # fmt: skip
    print(table(["recipe", "mutants", "killed", "survived", "other", "equivalent", "score", "seconds"], rows))
    total = sum(o.total for o in ordered)
    killed = sum(o.killed for o in ordered)
    equivalent = sum(o.equivalent for o in ordered)
    if total:
        print(
            f"all: {total} mutants, {killed} killed, {equivalent} equivalent: "
            f"{100.0 * killed / (total - equivalent):.1f}%"
        )
    print("killed includes timeouts; other = no tests / suspicious / segfault, counted as not killed;")
    print("equivalent = SQL case changes, or listed in tools/equivalent_mutants.toml with a reason;")
    print("left out of the score; score = killed / (mutants - equivalent)")

    for o in ordered:
        if o.error:
            print(f"\nFAIL {o.recipe.name}: {o.error}")
            continue
        survivors = [key for key, status in o.statuses.items() if status not in KILLED]
        if survivors:
            verdict = "PASS" if o.passed else "FAIL"
            print(f"\n{verdict} {o.recipe.name}: {len(survivors) - o.equivalent} not killed ({o.score:.1f}%)")
            for key in survivors:
                print(f"  {short_name(key)} [{o.statuses[key]}]")
                print(changed_lines(o.diffs.get(key, "")))
    failed = [o.recipe.name for o in ordered if not o.passed]
    print(f"\nmutate: {len(ordered) - len(failed)}/{len(ordered)} recipes at >= {THRESHOLD:.0f}%", end="")
    print(f"; below: {', '.join(failed)}" if failed else "")
    seconds = time.monotonic() - started
    print(f"mutate: {seconds:.0f} s")
    doc_tables.publish_after_full_run(
        "mutate",
        (r.name for r in recipes),
        (r.name for r in all_recipes()),
        (PAGE, MARKER, RESULTS_FILE),
        render_markdown,
        lambda: results_of(ordered, seconds),
    )
    return 1 if failed else 0


def results_of(outcomes: list[Outcome], seconds: float) -> dict[str, Any]:
    """What docs/results/mutation.json holds: the counts per recipe and every mutant not killed."""
    recipes = []
    for o in outcomes:
        counts = Counter(o.statuses.values())
        recipes.append(
            {
                "recipe": o.recipe.name,
                "mutants": o.total,
                "killed": o.killed,
                "survived": counts["survived"],
                "other": o.total - o.killed - counts["survived"] - o.equivalent,
                "equivalent": o.equivalent,
                "seconds": round(o.seconds),
                "error": o.error.splitlines()[0] if o.error else "",
                "not_killed": [
                    {
                        "mutant": short_name(key),
                        "status": status,
                        "change": changed_lines(o.diffs.get(key, "")).split("\n"),
                    }
                    for key, status in o.statuses.items()
                    if status not in (*KILLED, EQUIVALENT)
                ],
            }
        )
    return {
        "command": "python -m tools.mutate",
        "measured": doc_tables.today(),
        "source": doc_tables.source_version(),
        "seconds": round(seconds),
        "threshold": THRESHOLD,
        "recipes": recipes,
    }


def _score(killed: int, mutants: int, equivalent: int) -> str:
    counted = mutants - equivalent
    return f"{100.0 * killed / counted:.1f}%" if counted else "-"


def render_markdown(results: dict[str, Any]) -> str:
    """The mutation table in docs/verification.md, from docs/results/mutation.json."""
    recipes = results["recipes"]
    total = {key: sum(r[key] for r in recipes) for key in ("mutants", "killed", "survived", "other", "equivalent")}
    columns = ("mutants", "killed", "survived", "equivalent")
    rows: list[list[object]] = [
        [r["recipe"], *(r[c] for c in columns), _score(r["killed"], r["mutants"], r["equivalent"])] for r in recipes
    ]
    rows.append(
        ["all recipes", *(total[c] for c in columns), _score(total["killed"], total["mutants"], total["equivalent"])]
    )
    passing = sum(
        not r["error"]
        and r["mutants"] > 0
        and 100.0 * r["killed"] >= results["threshold"] * (r["mutants"] - r["equivalent"])
        for r in recipes
    )
    lines = [
        f"Last full run: {passing} of {len(recipes)} recipes at {results['threshold']:g}% or more "
        f"(`{results['command']}` at {results['source']}, {results['measured']}, {results['seconds']} s).",
        "",
        doc_tables.markdown_table(["recipe", *columns, "score"], rows),
    ]
    if total["other"]:
        lines += [
            "",
            f"{total['other']} mutant(s) that no test reached, or that mutmut found suspicious, count as not killed.",
        ]
    errors = [r for r in recipes if r["error"]]
    if errors:
        lines += ["", "Runs that failed:", ""] + [f"- `{r['recipe']}`: {r['error']}" for r in errors]
    not_killed = [(r["recipe"], m) for r in recipes for m in r["not_killed"]]
    if not_killed:
        lines += ["", "Not killed:", ""]
        for recipe, mutant in not_killed:
            lines.append(f"- `{recipe}`: `{mutant['mutant']}` ({mutant['status']})")
            lines += [f"  - `{change.strip()}`" for change in mutant["change"] if change.strip()]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
