"""Figures in docs/ come from the command that measured them, never from a hand edit.

Each measuring command (``make coverage``, ``make mutate``, ``make bench``) saves what it
measured to a results file under ``docs/results/`` and rewrites its table in a page of
``docs/`` between two HTML comments, ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``.
Everything outside the markers is prose and stays as written. The table is rendered from
the results file by one function per command, and ``tests/test_docs.py`` renders it again
from the same file and compares, so the page and the file cannot drift apart.

    python -m tools.doc_tables    # render every table again from its saved results
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def _span(text: str, name: str) -> tuple[int, int]:
    """Where the text between the two markers of ``name`` starts and ends."""
    start, end = markers(name)
    if text.count(start) != 1 or text.count(end) != 1:
        raise ValueError(f"expected exactly one {start} and one {end}")
    first = text.index(start) + len(start)
    last = text.index(end)
    if last < first:
        raise ValueError(f"{end} comes before {start}")
    return first, last


def between_markers(text: str, name: str) -> str:
    """The text between the markers of ``name``, without the blank lines around it."""
    first, last = _span(text, name)
    return text[first:last].strip("\n")


def replace_between_markers(text: str, name: str, body: str) -> str:
    first, last = _span(text, name)
    return text[:first] + "\n" + body.strip("\n") + "\n" + text[last:]


def publish(page: Path, name: str, body: str, results_file: Path, results: dict[str, Any]) -> None:
    """Save ``results`` and put ``body`` (rendered from them) between the markers in ``page``."""
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(results, indent=2) + "\n")
    page.write_text(replace_between_markers(page.read_text(), name, body))


def publish_after_full_run(
    tool: str,
    ran: Iterable[str],
    every: Iterable[str],
    table: tuple[Path, str, Path],
    render: Callable[[dict[str, Any]], str],
    results: Callable[[], dict[str, Any]],
) -> None:
    """Publish (see ``publish``) only when the run covered every recipe: a partial table would mislead.

    ``table`` is (page, marker, results file); ``results`` is called only for a full run.
    """
    page, marker, results_file = table
    ran, every = set(ran), set(every)
    if ran != every:
        print(f"{tool}: {len(ran)} of {len(every)} recipes, so {shown(page)} is left as it is")
        return
    measured = results()
    publish(page, marker, render(measured), results_file, measured)
    print(f"{tool}: wrote {shown(results_file)} and the table in {shown(page)}")


def shown(path: Path) -> str:
    """A path as the user would type it from the repository root."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def load(results_file: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(results_file.read_text())
    return data


def source_version() -> str:
    """The commit measured, with "-dirty" when the work tree had changes; "unknown" outside git."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def today() -> str:
    return datetime.date.today().isoformat()


NUMBER = re.compile(r"^-?[\d,]+(\.\d+)?%?$")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub table; a column of numbers (blank cells allowed) is right-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    numeric = [
        any(row[i] for row in cells) and all(NUMBER.match(row[i]) or not row[i] for row in cells)
        for i in range(len(headers))
    ]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if right else "---" for right in numeric) + "|",
        *("| " + " | ".join(row) + " |" for row in cells),
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Table:
    """One table in docs/: the page, its marker name, its results file, and the function that renders it."""

    page: Path
    marker: str
    results_file: Path
    render: Callable[[dict[str, Any]], str]

    def rendered(self) -> str:
        return self.render(load(self.results_file))


def tables() -> list[Table]:
    """Every table in docs/ (imported here, not at the top: those modules import this one)."""
    from bench import __main__ as bench_main
    from bench.markdown import render_markdown as render_bench
    from tools import coverage_gate, mutate

    return [
        Table(coverage_gate.PAGE, coverage_gate.MARKER, coverage_gate.RESULTS_FILE, coverage_gate.render_markdown),
        Table(mutate.PAGE, mutate.MARKER, mutate.RESULTS_FILE, mutate.render_markdown),
        Table(bench_main.PAGE, bench_main.MARKER, bench_main.RESULTS_FILE, render_bench),
    ]


def main() -> int:
    """Render every table again from its saved results, without measuring anything.

    For after a change to a renderer; the figures stay those of the last full run.
    """
    for table in tables():
        text = table.page.read_text()
        updated = replace_between_markers(text, table.marker, table.rendered())
        if updated != text:
            table.page.write_text(updated)
            print(f"rewrote the {table.marker} table in {table.page.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
