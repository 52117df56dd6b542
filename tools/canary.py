"""`make canary`: the recipes on the newest release of everything, pre-releases included.

A fresh venv (.venv-canary, removed and built again on every run) gets the project's run-time
and test packages with ``pip install --pre --upgrade`` and no lock: whatever PyPI offers
today. Then each recipe runs as ``make compat`` runs it (its own pytest run, the cookbook's
settings as an ini file, the shared PostgreSQL), and the output names, per recipe, what broke
and its first error line, beside every version that differs from requirements.lock. It exits
1 when a recipe broke or the install failed, so a scheduled CI job (.github/workflows/canary.yml)
turns red a week or so before a release reaches users.

A run over every recipe also writes docs/results/canary.json and its table in
docs/compatibility.md.

    python -m tools.canary [--jobs N] [RECIPE ...]
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

from tools import compat, doc_tables
from tools.common import (
    ROOT,
    all_recipes,
    build_venv,
    postgres_server,
    recipe_parser,
    requirement_name,
    run_parallel,
    table,
)

VENV = ROOT / ".venv-canary"
RESULTS_FILE = doc_tables.RESULTS / "canary.json"
MARKER = "canary"


def newer_than_lock(installed: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Package -> (locked version, installed version), for each locked package installed at another version."""
    locked = {}
    for line in compat.lock_lines():
        name, _, version = line.partition("==")
        locked[requirement_name(name)] = version.strip()
    return {
        name: (locked[name], version)
        for name, version in sorted(installed.items())
        if name in locked and version != locked[name]
    }


def render_markdown(results: dict[str, Any]) -> str:
    """The canary's section in docs/compatibility.md, from docs/results/canary.json."""
    recipes = results["recipes"]
    passing = sum(entry["status"] == "pass" for entry in recipes.values())
    lines = [
        f"Last run: {results['measured']}, `{results['command']}` at {results['source']}, "
        f"{results['seconds']} s: {passing} of {len(recipes)} recipes pass on the newest releases."
    ]
    if results.get("error"):
        lines += ["", f"The venv could not be built: {results['error']}"]
    changed = results["newer_than_lock"]
    if changed:
        lines += [
            "",
            doc_tables.markdown_table(
                ["package", "lock", "newest"], [[name, old, new] for name, (old, new) in changed.items()]
            ),
        ]
    else:
        lines += ["", "Every package was at its locked version: nothing newer to try."]
    broken = [(name, entry) for name, entry in sorted(recipes.items()) if entry["status"] != "pass"]
    if broken:
        lines += ["", "Broken on the newest releases:", ""]
        lines += [f"- `{name}`: {entry['detail']}" for name, entry in broken]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(__doc__, "recipe runs at a time")
    args = parser.parse_args(argv)
    recipes = all_recipes(args.recipes)
    started = time.monotonic()
    shutil.rmtree(VENV, ignore_errors=True)  # fresh every time: yesterday's newest is not today's
    # No constraints: --pre --upgrade let pip take the newest of every package, pre-releases too.
    error = build_venv(VENV, ["--pre", "--upgrade", *compat.project_packages()], "")
    env = compat.Env(compat.Column("canary", "canary"), VENV / "bin" / "python")
    if error:
        env.error = f"pip could not install the newest releases: {compat.pip_error(error)}"
        print(f"canary: {env.error}\n{error}")
    else:
        env.installed = compat.installed_versions(VENV / "bin" / "python")
    built = time.monotonic() - started
    changed = newer_than_lock(env.installed)
    print(f"canary: venv ready in {built:.0f} s; {len(changed)} package(s) newer than the lock", flush=True)
    if changed:
        print(table(["package", "lock", "newest"], [[n, old, new] for n, (old, new) in changed.items()]))
    ini = VENV / "pytest.ini"
    if not error:
        ini.write_text(compat.ini_for(env))
    with postgres_server(not error and any(r.uses_postgres for r in recipes)) as dsn:
        cells = run_parallel(lambda recipe: compat.run_cell(recipe, env, ini, dsn), recipes, args.jobs)
    entries = {recipe.name: entry for recipe, entry in zip(recipes, cells, strict=True)}
    broken = {name: entry for name, entry in entries.items() if entry["status"] != "pass"}
    print(
        table(
            ["recipe", "result", "first error"],
            [[name, "ok" if e["status"] == "pass" else "BROKEN", e["detail"][:140]] for name, e in entries.items()],
        )
    )
    seconds = round(time.monotonic() - started)
    doc_tables.publish_after_full_run(
        "canary", entries, (r.name for r in all_recipes()),
        (compat.PAGE, MARKER, RESULTS_FILE), render_markdown,
        lambda: {
            "command": "python -m tools.canary",
            "measured": doc_tables.today(),
            "source": doc_tables.source_version(),
            "seconds": seconds,
            "error": env.error,
            "newer_than_lock": changed,
            "recipes": entries,
        },
    )  # fmt: skip
    verdict = f"{len(broken)} of {len(entries)} recipes broke: {', '.join(broken)}" if broken else "nothing broke"
    print(f"canary: {verdict} ({seconds} s)")
    return 1 if broken or error else 0


if __name__ == "__main__":
    sys.exit(main())
