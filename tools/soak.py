"""`make soak`: the whole suite many times in random orders; any failure is reported with its seed.

Each run gets a fresh random seed for pytest-randomly (``-p randomly --randomly-seed=N``),
so a failure is reproducible with ``pytest -p randomly --randomly-seed=N``. Two runs at a
time by default: the load of a busy machine is part of what a soak should shake out.

    python -m tools.soak [--runs 20] [--jobs N] [-- PYTEST_ARGS ...]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tools.common import ROOT, child_env, default_jobs, failed_tests, pytest_summary, run_parallel, table, tail

PYTEST = Path(sys.executable).parent / "pytest"


@dataclass
class Run:
    number: int
    seed: int
    returncode: int = 0
    summary: str = ""
    failures: str = ""
    seconds: float = 0.0


def run_once(run: Run, pytest_args: list[str]) -> Run:
    started = time.monotonic()
    done = subprocess.run(
        [str(PYTEST), "-q", "-rfE", "-p", "no:cacheprovider", "-p", "randomly", f"--randomly-seed={run.seed}",
         *pytest_args],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    run.returncode = done.returncode
    run.summary = pytest_summary(output, done.returncode)
    if done.returncode != 0:
        run.failures = "\n".join(failed_tests(output)) or tail(output)
    run.seconds = time.monotonic() - started
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="runs at a time (default: %(default)s)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    seeds = random.SystemRandom()
    runs = [Run(n, seeds.randrange(2**32)) for n in range(1, args.runs + 1)]
    started = time.monotonic()
    results = run_parallel(lambda r: run_once(r, args.pytest_args), runs, args.jobs)
    rows = (
        [r.number, r.seed, ("ok   " if r.returncode == 0 else "FAIL ") + r.summary, f"{r.seconds:.0f}"] for r in results
    )
    print(table(["run", "seed", "result", "seconds"], rows))
    failed = [r for r in results if r.returncode != 0]
    for r in failed:
        print(f"\nFAIL run {r.number}, seed {r.seed} (rerun: pytest -p randomly --randomly-seed={r.seed}):")
        print("  " + r.failures.replace("\n", "\n  "))
    print(f"\nsoak: {len(results) - len(failed)}/{len(results)} runs passed in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
