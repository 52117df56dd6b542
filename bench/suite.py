"""4. The suite itself: the whole cookbook's wall time against pytest's own floor.

Each round runs, in alternating order:

- the whole suite exactly as ``make test`` runs it (plus ``--durations=10``
  and a tiny plugin that notes every test's phase durations), wall time of
  the process; it starts its own PostgreSQL when it needs to;
- a PostgreSQL throwaway cluster started and stopped on its own, timed to
  ready, so the suite's time can be given without it;
- the floor: as many empty async tests as the suite has, spread over as many
  files, generated in a temp dir with the same pytest configuration and the
  same conftest.py (so the same plugins). No suite can run faster than that;
- the sandbox floor: a few tests that each request ``pytester`` and run one
  in-process session of one empty async test with the recipes' sandbox flags.
  No pitfall sandbox can be cheaper than that.

It reports the suite against the floor, the pitfall sandboxes (tests that request
``pytester``: how many, their total and median time), and every test above
``SLOW_TEST_SECONDS`` with its reason from ``bench/slow_tests.toml``; a slow test
missing from that map is shown as "no reason given", so it cannot hide.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from postgres_provider import ThrowawayCluster, find_server_bindir

from .harness import ROOT, Comparison, Row, Target, alternate, progress

SLOW_TEST_SECONDS = 0.25
FLOOR_RATIO = 4.0  # the whole suite, PostgreSQL start excluded, at most this many times the floor
SANDBOX_MEDIAN_MS = 40.0  # the median pitfall-sandbox test at most this long
SANDBOX = "pytester sandbox"  # the kind bench/timings_plugin.py gives a test that requests pytester
SANDBOX_FLOOR_TESTS = 25
SANDBOX_FLAGS = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider"]
SLOW_TESTS_FILE = Path(__file__).with_name("slow_tests.toml")
NO_REASON = "no reason given"
SUMMARY = re.compile(r"^=+ (.+) in ([\d.]+)s", re.M)


def pytest_command() -> list[str]:
    script = Path(sys.executable).parent / "pytest"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pytest"]


def pytest_env(timings_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    # As the Makefile does: without .pyc files every run re-compiles every plugin.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["BENCH_TIMINGS_FILE"] = str(timings_file)
    return env


@dataclass
class Run:
    seconds: float
    returncode: int
    summary: str
    durations: list[str]
    timings: dict[str, dict[str, float]]  # nodeid -> phase -> seconds
    kinds: dict[str, str]  # nodeid -> what it sets up (bench/timings_plugin.py)
    sandbox_runs: dict[str, dict[str, int]]  # nodeid -> pytest runs it started, "in-process" / "subprocess"


def known_slow(path: Path = SLOW_TESTS_FILE) -> dict[str, str]:
    """Node-id prefix -> why tests starting with it may take longer than SLOW_TEST_SECONDS."""
    reasons: dict[str, str] = tomllib.loads(path.read_text()).get("slow", {})
    return reasons


def matches(key: str, nodeid: str) -> bool:
    """True if ``key`` matches the start of ``nodeid``, a ``*`` in it standing for any text."""
    pattern = ".*".join(re.escape(part) for part in key.split("*"))
    return re.match(pattern, nodeid) is not None


def reason_for(nodeid: str, reasons: dict[str, str]) -> str:
    """The reason under the longest key of ``reasons`` that matches ``nodeid``, or NO_REASON."""
    found = [key for key in reasons if matches(key, nodeid)]
    return reasons[max(found, key=len)] if found else NO_REASON


def sandbox_summary(median_total: dict[str, float], kinds: dict[str, str]) -> dict[str, float]:
    """Count, total seconds and median milliseconds of the tests that run a pytester sandbox."""
    times = [seconds for nodeid, seconds in median_total.items() if kinds.get(nodeid) == SANDBOX]
    return {
        "tests": len(times),
        "total_seconds": round(sum(times), 3),
        "median_ms": round(statistics.median(times) * 1000, 1) if times else 0.0,
    }


def sandbox_runs_text(counts: dict[str, int]) -> str:
    """{"in-process": 2, "subprocess": 1} -> "2 in-process + 1 subprocess pytest runs"; "" for none."""
    parts = [f"{counts[how]} {how}" for how in ("in-process", "subprocess") if counts.get(how)]
    return " + ".join(parts) + (" pytest run" if sum(counts.values()) == 1 else " pytest runs") if parts else ""


def slow_tests(
    median_total: dict[str, float], reasons: dict[str, str], sandbox_runs: dict[str, dict[str, int]]
) -> list[dict[str, str | float]]:
    """Every test above SLOW_TEST_SECONDS, slowest first, with its reason and the sandbox runs it started."""
    over = sorted((n for n, s in median_total.items() if s > SLOW_TEST_SECONDS), key=lambda n: -median_total[n])
    return [
        {
            "nodeid": n,
            "seconds": round(median_total[n], 3),
            "reason": reason_for(n, reasons),
            "sandbox_runs": sandbox_runs_text(sandbox_runs.get(n, {})),
        }
        for n in over
    ]


def run_pytest(args: list[str], cwd: Path, scratch: Path, name: str) -> Run:
    timings_file = scratch / f"{name}.json"
    timings_file.unlink(missing_ok=True)
    command = [*pytest_command(), "-p", "bench.timings_plugin", "--durations=10", *args]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=pytest_env(timings_file), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    summaries = SUMMARY.findall(done.stdout)
    section = done.stdout.split("slowest 10 durations", 1)[-1].splitlines()[1:] if "slowest 10" in done.stdout else []
    durations = [line for line in section if re.match(r"^[\d.]+s ", line)]
    if done.returncode not in (0, 1) or not timings_file.exists():  # 1: some test failed; the time still counts
        raise RuntimeError(f"pytest {' '.join(args)} in {cwd} exited {done.returncode}:\n{done.stdout[-3000:]}")
    recorded = json.loads(timings_file.read_text())
    summary = summaries[-1][0] if summaries else "?"
    return Run(
        seconds,
        done.returncode,
        summary,
        durations,
        recorded["durations"],
        recorded["kinds"],
        recorded.get("sandbox_runs", {}),
    )


def collect(scratch: Path) -> tuple[int, int, str]:
    """Collect the suite once (this also warms up the .pyc caches): tests, files, the postgres line."""
    done = subprocess.run(
        [*pytest_command(), "--collect-only", "-q"],
        cwd=ROOT,
        env=pytest_env(scratch / "collect.json"),
        capture_output=True,
        text=True,
        check=False,
    )
    nodeids = [line for line in done.stdout.splitlines() if "::" in line and not line.startswith(" ")]
    if done.returncode != 0 or not nodeids:
        raise RuntimeError(f"collecting the suite failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    postgres = next((line for line in done.stdout.splitlines() if line.startswith("postgres:")), "postgres: not used")
    return len(nodeids), len({nodeid.split("::", 1)[0] for nodeid in nodeids}), postgres


def write_floor(directory: Path, tests: int, files: int) -> None:
    """``tests`` empty async tests over ``files`` files, with the cookbook's pytest config and conftest.py."""
    shutil.copy(ROOT / "pyproject.toml", directory / "pyproject.toml")
    shutil.copy(ROOT / "conftest.py", directory / "conftest.py")
    per_file, extra = divmod(tests, files)
    number = 0
    for index in range(files):
        body = []
        for _ in range(per_file + (index < extra)):
            body.append(f"async def test_empty_{number}() -> None:\n    pass\n")
            number += 1
        (directory / f"test_floor_{index:03}.py").write_text("\n\n".join(body))


def write_sandbox_floor(directory: Path, tests: int) -> None:
    """``tests`` tests that each run the cheapest sandbox: one in-process session of one empty async test."""
    shutil.copy(ROOT / "pyproject.toml", directory / "pyproject.toml")
    shutil.copy(ROOT / "conftest.py", directory / "conftest.py")
    body = [
        f'pytest_plugins = ["pytester"]\nFLAGS = {SANDBOX_FLAGS!r}\n'
        'INI = "[pytest]\\nasyncio_mode = auto\\nasyncio_default_fixture_loop_scope = function\\n"\n'
    ]
    for number in range(tests):
        body.append(
            f"def test_sandbox_{number}(pytester):\n"
            "    pytester.makeini(INI)\n"
            "    pytester.makepyfile('async def test_empty():\\n    pass\\n')\n"
            "    pytester.runpytest(*FLAGS).assert_outcomes(passed=1)\n"
        )
    (directory / "test_sandbox_floor.py").write_text("\n\n".join(body))


def per_test_median_ms(run: Run) -> float:
    return statistics.median(sum(phases.values()) for phases in run.timings.values()) * 1000


def time_cluster_start(bindir: Path) -> float:
    cluster = ThrowawayCluster(bindir)
    try:
        started = time.perf_counter()
        cluster.start()
        return time.perf_counter() - started
    finally:
        cluster.stop()


def compare(rounds: int) -> Comparison:
    comparison = Comparison(
        key="4",
        slug="suite",
        title="The suite itself: the whole cookbook against pytest's floor",
        scenario="",
        reference="",
    )
    scratch = Path(tempfile.mkdtemp(prefix="cookbook-bench-"))
    try:
        progress("suite: collecting (and warming up the .pyc caches)")
        tests, files, postgres = collect(scratch)
        floor_dir = scratch / "floor"
        floor_dir.mkdir()
        write_floor(floor_dir, tests, files)
        run_pytest(["--collect-only", "-q", "."], floor_dir, scratch, "floor-warmup")
        sandbox_floor_dir = scratch / "sandbox-floor"
        sandbox_floor_dir.mkdir()
        write_sandbox_floor(sandbox_floor_dir, SANDBOX_FLOOR_TESTS)
        bindir = find_server_bindir() if "throwaway cluster" in postgres else None
        runs: dict[str, list[Run]] = {"suite": [], "floor": [], "sandbox floor": []}

        def suite() -> float:
            runs["suite"].append(run_pytest([], ROOT, scratch, "suite"))
            return runs["suite"][-1].seconds

        def floor() -> float:
            runs["floor"].append(run_pytest(["."], floor_dir, scratch, "floor"))
            return runs["floor"][-1].seconds

        def sandbox_floor() -> float:
            run = run_pytest(["."], sandbox_floor_dir, scratch, "sandbox-floor")
            if run.returncode != 0:
                raise RuntimeError(f"the sandbox floor failed ({run.summary}): it must pass to be a floor")
            runs["sandbox floor"].append(run)
            return per_test_median_ms(run)

        contenders = {"suite": suite, "floor": floor, "sandbox floor": sandbox_floor}
        if bindir is not None:
            contenders["postgres"] = lambda: time_cluster_start(bindir)
        progress(f"suite: {rounds} rounds of the whole suite ({tests} tests), the floor and a cluster start")
        samples = alternate(rounds, contenders, "suite")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    floor_name = f"floor: {tests} empty async tests, same plugins"
    comparison.reference = floor_name
    comparison.scenario = f"{tests} tests in {files} files, run as `make test` runs them, {rounds} rounds; {postgres}"
    pg_samples = samples.get("postgres", [0.0] * rounds)
    comparison.rows = [
        Row("whole suite, PostgreSQL start included", "s", samples["suite"]),
        Row("PostgreSQL start on its own (initdb + start)", "s", pg_samples, compare=False)
        if bindir is not None
        else Row("PostgreSQL start (none: server already running)", "s", [0.0], compare=False),
        Row(
            "whole suite minus PostgreSQL start",
            "s",
            [s - p for s, p in zip(samples["suite"], pg_samples, strict=True)],
        ),
        Row(floor_name, "s", samples["floor"]),
        Row(
            "sandbox floor: a test that runs one empty async test in-process with pytester",
            "ms/test",
            samples["sandbox floor"],
            compare=False,
        ),
    ]
    suite_row, floor_row, sandbox_floor_row = comparison.rows[2], comparison.rows[3], comparison.rows[4]
    suite_row.note = f"{suite_row.median / tests * 1000:.1f} ms/test"
    floor_row.note = f"{floor_row.median / tests * 1000:.2f} ms/test"
    ratio = suite_row.median / floor_row.median
    best = suite_row.min / floor_row.min  # the fastest runs: the least disturbed by a busy machine
    comparison.targets.append(
        Target(
            f"whole suite minus PostgreSQL start at most {FLOOR_RATIO:g}x the floor",
            f"{ratio:.2f}x (fastest runs: {best:.2f}x)",
            ratio <= FLOOR_RATIO,
        )
    )

    totals: dict[str, list[float]] = {}
    phases: dict[str, dict[str, list[float]]] = {}
    for run in runs["suite"]:
        for nodeid, by_phase in run.timings.items():
            totals.setdefault(nodeid, []).append(sum(by_phase.values()))
            for phase, seconds in by_phase.items():
                phases.setdefault(nodeid, {}).setdefault(phase, []).append(seconds)
    median_total = {nodeid: statistics.median(values) for nodeid, values in totals.items()}
    kinds = runs["suite"][-1].kinds
    sandboxes = sandbox_summary(median_total, kinds)
    comparison.targets.append(
        Target(
            f"median pitfall-sandbox test (requests `pytester`) at most {SANDBOX_MEDIAN_MS:g} ms",
            f"{sandboxes['median_ms']:.1f} ms over {sandboxes['tests']:.0f} tests, {sandboxes['total_seconds']:.2f} s "
            "in all",
            sandboxes["median_ms"] <= SANDBOX_MEDIAN_MS if sandboxes["tests"] else None,
        )
    )
    without_sandboxes = (suite_row.median - sandboxes["total_seconds"]) / floor_row.median
    at_sandbox_floor = without_sandboxes + sandboxes["tests"] * sandbox_floor_row.median / 1000 / floor_row.median
    comparison.notes.append(
        f"the suite less its {sandboxes['tests']:.0f} sandbox tests is {without_sandboxes:.2f}x the floor; "
        f"were every sandbox test as cheap as the sandbox floor ({sandbox_floor_row.median:.1f} ms: pytest's own "
        f"start-up of one session), the suite would be {at_sandbox_floor:.2f}x"
    )
    slow = slow_tests(median_total, known_slow(), runs["suite"][-1].sandbox_runs)
    unexplained = [test for test in slow if test["reason"] == NO_REASON]
    comparison.targets.append(
        Target(
            f"every test above {SLOW_TEST_SECONDS} s named with its reason in bench/{SLOW_TESTS_FILE.name}",
            f"{len(slow)} above, {len(unexplained)} without a reason",
            not unexplained,
        )
    )
    comparison.notes.append(
        f"tests above {SLOW_TEST_SECONDS} s (setup + call + teardown, median of rounds; the slowest phase in "
        "brackets), each with its reason:"
        if slow
        else f"no test above {SLOW_TEST_SECONDS} s (setup + call + teardown, median of rounds)"
    )
    for test in slow:
        nodeid = str(test["nodeid"])
        by_phase = {phase: statistics.median(values) for phase, values in phases[nodeid].items()}
        worst = max(by_phase, key=by_phase.__getitem__)
        started = f" ({test['sandbox_runs']})" if test["sandbox_runs"] else ""
        comparison.notes.append(
            f"  {median_total[nodeid]:.3f} s [{worst} {by_phase[worst]:.3f}] `{nodeid}`{started}: {test['reason']}"
        )
    comparison.notes.append("where the suite's test time goes (setup + call + teardown, median of rounds):")
    by_kind: dict[str, list[float]] = {}
    for nodeid, seconds in median_total.items():
        by_kind.setdefault(kinds.get(nodeid, "other"), []).append(seconds)
    for kind, values in sorted(by_kind.items(), key=lambda item: -sum(item[1])):
        comparison.notes.append(
            f"  {kind:<20} {len(values):>4} tests {sum(values):6.2f} s "
            f"(median {statistics.median(values) * 1000:.1f} ms per test)"
        )
    outcomes = sorted({run.summary for run in runs["suite"]})
    comparison.notes.append(f"suite outcome: {' | '.join(outcomes)}")
    slowest = sorted(median_total, key=median_total.__getitem__, reverse=True)[:10]
    comparison.details = {
        "tests": tests,
        "files": files,
        "postgres": postgres,
        "suite_outcomes": [run.summary for run in runs["suite"]],
        "floor_outcomes": [run.summary for run in runs["floor"]],
        "sandbox_floor_outcomes": [run.summary for run in runs["sandbox floor"]],
        "pytest_durations_10_per_round": [run.durations for run in runs["suite"]],
        "slowest_tests_median_seconds": {nodeid: median_total[nodeid] for nodeid in slowest},
        "suite_vs_floor": round(ratio, 3),
        "suite_vs_floor_at_sandbox_floor": round(at_sandbox_floor, 3),
        "sandbox_tests": sandboxes,
        "slow_tests": slow,
    }
    return comparison
