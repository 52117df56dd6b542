"""The benchmark tables of docs/benchmarks.md, rendered from docs/results/bench.json.

``python -m bench`` calls this after a full run; ``tests/test_docs.py`` calls it again on
the saved file and compares with the page, so the page always shows the saved figures.
"""

from __future__ import annotations

from typing import Any

from tools.doc_tables import markdown_table

from .harness import format_number

VERDICT = {True: "**met**", False: "**missed**", None: "reported"}


def _machine(results: dict[str, Any]) -> str:
    info = results["machine"]
    load = info.get("load_average_at_start", ["?"])[0]
    return (
        f"Last full run: `{info.get('command', 'python -m bench')}` on {info['nproc']} CPU(s) ({info['cpu_model']}), "
        f"{info['implementation']} {info['python']}, 1-minute load {load} at the start; "
        f"{results['elapsed_seconds']:.0f} s in all."
    )


def _note(note: str) -> str:
    """A note that starts with spaces continues the one before it: a nested item."""
    if note.startswith("  "):
        return "  - " + " ".join(note.split())
    return "- " + note


def render_comparison(comparison: dict[str, Any]) -> list[str]:
    lines = [f"### {comparison['key']}. {comparison['title']}", ""]
    if comparison["scenario"]:
        lines += [comparison["scenario"], ""]
    if comparison.get("skipped"):
        return [*lines, f"Skipped: {comparison['skipped']}", ""]
    rows = [
        [
            row["name"],
            format_number(row["median"]),
            format_number(row["min"]),
            format_number(row["max"]),
            row["unit"],
            row["vs_reference"],
            row["note"],
        ]
        for row in comparison["rows"]
    ]
    lines += [markdown_table(["contender", "median", "min", "max", "unit", "vs reference", "note"], rows), ""]
    lines += [
        f"- target: {target['description']}: {target['measured']}, {VERDICT[target['met']]}"
        for target in comparison["targets"]
    ]
    lines += [_note(note) for note in comparison["notes"]]
    return [*lines, ""]


def render_markdown(results: dict[str, Any]) -> str:
    """Every comparison in the results file: a heading, its scenario, its table, targets and notes."""
    lines = [_machine(results), ""]
    for comparison in results["comparisons"].values():
        lines += render_comparison(comparison)
    return "\n".join(lines).rstrip("\n")
