"""A one-line-per-recipe summary at the end of the run, after pytest's own failure report.

Loaded by the root conftest.py. Works under pytest-xdist too: the controller
receives every worker's reports. It imports nothing from the PostgreSQL provider: when
that plugin is loaded, its ``summary_line`` adds the short `postgres:` line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
DOC_SECTION = re.compile(r"^\*\*Doc section:\*\*\s*(.+?)\s*$", re.M)


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    errors: int = 0  # a failing setup or teardown, as pytest counts them
    skipped: int = 0
    xfailed: int = 0
    seconds: float = 0.0


def group_of(nodeid: str) -> str:
    """``recipes/<name>/...`` -> ``<name>``; anything else -> its top folder."""
    parts = nodeid.split("::", 1)[0].split("/")
    if parts[0] == "recipes" and len(parts) > 2:
        return parts[1]
    return parts[0] if len(parts) > 1 else "(root)"


def doc_section(recipe: str) -> str:
    readme = ROOT / "recipes" / recipe / "README.md"
    if not readme.is_file():
        return "the cookbook's own checks" if recipe == "tests" else ""
    found = DOC_SECTION.search(readme.read_text())
    if not found:
        return ""
    name = found.group(1)  # as the README's tables and `make list` give it
    return "beyond the doc" if name.startswith("none") else name


report_key = pytest.StashKey["RunReport"]()


class RunReport:
    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        tally = self.tallies.setdefault(group_of(report.nodeid), Tally())
        tally.seconds += report.duration
        if report.failed and report.when != "call":
            tally.errors += 1
        elif report.when == "call" or (report.when == "setup" and report.skipped):
            if report.passed:
                tally.passed += 1
            elif hasattr(report, "wasxfail"):  # an expected failure: not a skip, so it gets its own column
                tally.xfailed += 1
            elif report.skipped:
                tally.skipped += 1
            else:
                tally.failed += 1

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
        if not any(name != "tests" for name in self.tallies) or config.get_verbosity() < -1:
            return
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "cookbook run report")
        width = max(len(name) for name in self.tallies)
        sections = {name: doc_section(name) for name in self.tallies}
        wide = max(len("doc section"), *(len(section) for section in sections.values()))
        counts = f"{'passed':>6} {'failed':>6} {'errors':>6} {'skipped':>7} {'xfailed':>7}"
        write(f"{'recipe':<{width}}  {'doc section':<{wide}} {counts} {'time':>7}")
        for name in sorted(self.tallies, key=lambda n: (n == "tests", n)):
            tally = self.tallies[name]
            line = (
                f"{name:<{width}}  {sections[name]:<{wide}} {tally.passed:>6} {tally.failed:>6} {tally.errors:>6} "
                f"{tally.skipped:>7} {tally.xfailed:>7} {tally.seconds:>6.2f}s"
            )
            write(line, red=tally.failed + tally.errors > 0)
        provider = config.pluginmanager.get_plugin("postgres_provider")
        summary_line = getattr(provider, "summary_line", None)
        if callable(summary_line) and (line := summary_line(config)):
            write(line)


def pytest_configure(config: pytest.Config) -> None:
    report = config.stash[report_key] = RunReport()
    config.pluginmanager.register(report, "cookbook-run-report")
