"""``python -m bench``: run the comparisons and print the table.

A run of every comparison also saves every sample to docs/results/bench.json and rewrites
the tables in docs/benchmarks.md from it. A run with ``--only`` prints, and saves to
``--output`` when given, but leaves the published figures as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tools import doc_tables

from .harness import Comparison, as_json, machine, progress, render
from .markdown import render_markdown

COMPARISONS = ("waiting", "databases", "loops", "suite")
PAGE = doc_tables.DOCS / "benchmarks.md"
RESULTS_FILE = doc_tables.RESULTS / "bench.json"
MARKER = "bench"


def positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=COMPARISONS, action="append", help="run only this comparison (repeatable)")
    parser.add_argument("--rounds", type=positive, default=5, help="rounds for the fast comparisons (default 5)")
    parser.add_argument(
        "--slow-rounds", type=positive, default=3, help="rounds for real-time waiting and the suite (3)"
    )
    parser.add_argument(
        "--real-time-scale",
        type=float,
        default=1.0,
        help="run the real-time waiting schedule scaled by this factor, e.g. 0.1 (default 1: the full 7.75 s)",
    )
    parser.add_argument("--loop-scale", type=float, default=1.0, help="scale the event-loop workloads (default 1)")
    parser.add_argument(
        "--template-strategy",
        default="",
        choices=["FILE_COPY", "WAL_LOG", ""],
        help="CREATE DATABASE strategy for pattern (d) on PostgreSQL 15+ (default: the server's, WAL_LOG)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"also save the samples here (a full run always saves to {doc_tables.shown(RESULTS_FILE)})",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    selected = args.only or list(COMPARISONS)
    info = machine()
    started = time.perf_counter()
    comparisons: list[Comparison] = []
    # Imported here, so that `--help` works even where a comparison's dependencies do not.
    if "waiting" in selected:
        from . import waiting

        progress("1. waiting: real time vs virtual time")
        comparisons.append(waiting.compare(args.slow_rounds, args.real_time_scale, virtual_repeats=200))
    if "databases" in selected:
        from . import databases

        progress("2. database isolation: six patterns")
        comparisons.append(databases.compare(args.rounds, args.template_strategy))
    if "loops" in selected:
        from . import event_loops

        progress("3. event loops: asyncio vs uvloop")
        comparisons.append(event_loops.compare(args.rounds, args.loop_scale))
    if "suite" in selected:
        from . import suite

        progress("4. the suite against pytest's floor")
        comparisons.append(suite.compare(args.slow_rounds))
    elapsed = time.perf_counter() - started
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    info["command"] = " ".join(["python -m bench", *argv])
    print(render(comparisons, info, elapsed))
    results = as_json(comparisons, info, elapsed)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        progress(f"wrote {args.output}")
    if set(selected) == set(COMPARISONS):
        doc_tables.publish(PAGE, MARKER, render_markdown(results), RESULTS_FILE, results)
        progress(f"wrote {doc_tables.shown(RESULTS_FILE)} and the tables in {doc_tables.shown(PAGE)}")
    else:
        progress(f"--only: {doc_tables.shown(PAGE)} and {doc_tables.shown(RESULTS_FILE)} left as they are")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
