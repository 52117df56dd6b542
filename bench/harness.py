"""Rounds, statistics, targets and the printed table, shared by every comparison."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def progress(message: str) -> None:
    """A line on stderr, so a long run shows where it is without mixing into the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    """One contender: its samples (one per round) in ``unit``."""

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    higher_is_better: bool = False
    compare: bool = True  # False: shown for information, no ratio
    versus: str = ""  # the row this one is compared with; empty: the comparison's reference
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def min(self) -> float:
        return min(self.samples) if self.samples else float("nan")

    @property
    def max(self) -> float:
        return max(self.samples) if self.samples else float("nan")

    def speedup_over(self, reference: Row) -> float:
        """How many times better than ``reference`` this row's median is (above 1: better)."""
        if self.higher_is_better:
            return self.median / reference.median
        return reference.median / self.median


@dataclass
class Target:
    description: str
    measured: str
    met: bool | None  # None: reported, no bar to meet


def times(speedup: float) -> str:
    return f"{speedup:,.0f}x" if speedup >= 100 else f"{speedup:.1f}x" if speedup >= 10 else f"{speedup:.2f}x"


@dataclass
class Comparison:
    key: str  # its number in the table
    slug: str  # its name in results.json
    title: str
    scenario: str
    reference: str  # the name of the row every ratio is relative to
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    skipped: str = ""  # why the comparison could not run, if it could not

    def row(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def ratio_text(self, row: Row) -> str:
        if not row.compare or not row.samples:
            return ""
        reference = row.versus or self.reference
        if row.name == reference:
            return "reference"
        speedup = row.speedup_over(self.row(reference))
        return f"{times(speedup)} better" if speedup >= 1 else f"{times(1 / speedup)} worse"


def alternate(rounds: int, contenders: dict[str, Callable[[], float]], label: str) -> dict[str, list[float]]:
    """Run each contender once per round, A B C then C B A and so on; each returns its own measurement.

    Reversing the order every round cancels the advantage of going first or
    last (a warm cache, a machine that is calming down).
    """
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        order = names if number % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(contenders[name]())
        progress(f"{label}: round {number + 1}/{rounds} done")
    return samples


def machine() -> dict[str, Any]:
    """What the numbers were measured on: enough to tell a quiet machine from a busy one."""
    cpu_model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def format_number(value: float) -> str:
    if value != value:  # NaN
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def render(comparisons: Sequence[Comparison], info: dict[str, Any], elapsed: float) -> str:
    """The table: one block per comparison, its targets under it."""
    lines = [
        "=" * 100,
        "make bench: the recommended patterns against the naive ones",
        f"machine: {info['nproc']} CPU(s), {info['cpu_model']}; Python {info['python']}; "
        f"load average at start {info['load_average_at_start']}, at end {info.get('load_average_at_end')}",
        "median / min / max are over the rounds; 'vs reference' compares medians "
        "(for times lower is better, for rates higher is better).",
    ]
    # Only the load before the start says whether others were busy: the bench itself keeps a CPU busy.
    before = info["load_average_at_start"][0]
    if before > 0.5 * info["nproc"]:
        lines.append(
            f"WARNING: the machine was already busy (1-minute load {before} on {info['nproc']} CPUs): "
            "these numbers are noisy; re-run `make bench` on a quiet machine for figures to publish."
        )
    lines.append("=" * 100)
    header = f"  {'contender':<46} {'median':>9} {'min':>9} {'max':>9}  {'unit':<13} {'vs reference':<14}"
    for comparison in comparisons:
        lines += ["", f"{comparison.key}. {comparison.title}", f"   {comparison.scenario}"]
        if comparison.skipped:
            lines.append(f"   SKIPPED: {comparison.skipped}")
            continue
        lines.append(header)
        for row in comparison.rows:
            lines.append(
                f"  {row.name:<46} {format_number(row.median):>9} {format_number(row.min):>9} "
                f"{format_number(row.max):>9}  {row.unit:<13} {comparison.ratio_text(row):<14}"
                + (f" {row.note}" if row.note else "")
            )
        for target in comparison.targets:
            verdict = {True: "MET", False: "MISSED", None: "(reported)"}[target.met]
            lines.append(f"   target: {target.description}: {target.measured} -> {verdict}")
        # A note that starts with spaces continues the one before it (a list under a heading).
        lines += [f"   {'     ' if note.startswith('  ') else 'note: '}{note}" for note in comparison.notes]
    lines += ["", f"whole bench: {elapsed:.0f} s", "=" * 100]
    return "\n".join(lines)


def as_json(comparisons: Sequence[Comparison], info: dict[str, Any], elapsed: float) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": info, "elapsed_seconds": round(elapsed, 3), "comparisons": {}}
    for comparison in comparisons:
        data = asdict(comparison)
        for row, raw in zip(comparison.rows, data["rows"], strict=True):
            raw.update(median=row.median, min=row.min, max=row.max, vs_reference=comparison.ratio_text(row))
        out["comparisons"][comparison.slug] = data
    return out
