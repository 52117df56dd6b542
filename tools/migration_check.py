"""`make migration-check`: the migration recipe's old code passes on the old versions, its new code on the lock.

recipes/migrate_from_old_pytest_asyncio/before_0_21/ and before_0_23/ are test suites written for
pytest-asyncio 0.21 and 0.23. Each runs in a project laid out as it was (the ``legacy_`` prefix of
its files dropped, pytest.ini at the root) in a venv holding the versions of PINS, every other
package at its requirements.lock version, and must pass. One more run shows the trap of upgrading
pytest alone: 0.21 on pytest 9 must fail with the error in EXPECT. Then the recipe itself (the 1.x
code, and the old code's errors on 1.x) runs in .venv on the lock. The venvs live in
.venv-migration/, one per pin set, rebuilt when the pins, the lock or the Python change.

    python -m tools.migration_check
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tools.common import (
    LOCK_FILE,
    RECIPES_DIR,
    ROOT,
    build_venv,
    child_env,
    pytest_summary,
    requirement_name,
    table,
    tail,
)

RECIPE = RECIPES_DIR / "migrate_from_old_pytest_asyncio"
VENVS = ROOT / ".venv-migration"
PYTEST_021 = ("pytest-asyncio==0.21.2", "pytest-aiohttp==1.0.5")  # 0.21.2 declares pytest>=7, no upper bound
PYTEST_023 = ("pytest-asyncio==0.23.8", "pytest-aiohttp==1.0.5")  # 0.23.8 declares pytest>=7,<9
EXPECT_021_ON_PYTEST_9 = "AttributeError: 'FixtureManager' object has no attribute '_arg2fixturedefs'"


@dataclass(frozen=True)
class Old:
    """One old suite, the versions it runs on, and what it must do there ("" = pass)."""

    label: str
    project: str
    pins: tuple[str, ...]
    expect: str = ""


PINS = (
    Old("0.21 suite", "before_0_21", (*PYTEST_021, "pytest==8.4.2")),
    Old("0.23 suite", "before_0_23", (*PYTEST_023, "pytest==8.4.2")),
    Old("0.21 suite, pytest 9", "before_0_21", (*PYTEST_021, "pytest==9.2.0"), EXPECT_021_ON_PYTEST_9),
)


@dataclass
class Run:
    label: str
    versions: str
    ok: bool
    summary: str
    output: str
    seconds: float


def constraints(pins: tuple[str, ...]) -> str:
    """The lock's lines for every package the pins do not name."""
    pinned = {requirement_name(pin) for pin in pins}
    lines = [line for line in LOCK_FILE.read_text().splitlines() if line and not line.startswith("#")]
    return "\n".join(line for line in lines if requirement_name(line) not in pinned) + "\n"


def venv_path(pins: tuple[str, ...]) -> Path:
    key = hashlib.sha256("\n".join([sys.version, *pins, constraints(pins)]).encode()).hexdigest()[:12]
    return VENVS / key


def venv_for(pins: tuple[str, ...]) -> Path:
    """A venv holding ``pins`` (the rest at the lock's versions), built once per pin set, lock and Python."""
    venv = venv_path(pins)
    if error := build_venv(venv, pins, constraints(pins)):
        raise SystemExit(f"migration-check: {error}")
    return venv


def lay_out(project: str, dest: Path) -> None:
    """The old project as it was: the quote service, the suite without its ``legacy_`` prefixes, pytest.ini on top."""
    package = dest / "legacy_project"
    (package / project).mkdir(parents=True)
    for name in ("__init__.py", "quote_service.py"):
        shutil.copy2(RECIPE / name, package / name)
    for source in (RECIPE / project).iterdir():
        name = source.name.removeprefix("legacy_")
        if name == "pytest.ini":
            shutil.copy2(source, dest / name)
        elif source.suffix == ".py":
            shutil.copy2(source, package / project / name)


def run_old(old: Old) -> Run:
    started = time.monotonic()
    venv = venv_for(old.pins)
    with tempfile.TemporaryDirectory(prefix="cookbook-migration-") as tmp:
        lay_out(old.project, Path(tmp))
        done = subprocess.run(
            [str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider"],
            cwd=tmp, env=child_env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
    output = done.stdout + done.stderr
    ok = done.returncode == 0 if not old.expect else done.returncode != 0 and old.expect in output
    summary = pytest_summary(output, done.returncode) + (f"; {old.expect}" if old.expect and ok else "")
    return Run(old.label, " ".join(old.pins), ok, summary, output, time.monotonic() - started)


def run_new() -> Run:
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", str(RECIPE.relative_to(ROOT)), "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    summary = pytest_summary(output, done.returncode)
    return Run(
        "the recipe, 1.x", "requirements.lock", done.returncode == 0, summary, output, time.monotonic() - started
    )


def main() -> int:
    started = time.monotonic()
    wanted = {venv_path(old.pins) for old in PINS}
    for stale in VENVS.glob("*"):
        if stale not in wanted:  # pins, lock or Python changed: its replacement is built below
            shutil.rmtree(stale, ignore_errors=True)
    runs = [*(run_old(old) for old in PINS), run_new()]
    print(
        table(
            ["run", "versions", "result", "seconds"],
            [[r.label, r.versions, r.summary, f"{r.seconds:.1f}"] for r in runs],
        )
    )
    failed = [r for r in runs if not r.ok]
    for r in failed:
        print(f"\nFAIL {r.label} ({r.versions}):\n{tail(r.output, 60)}")
    seconds = time.monotonic() - started
    print(f"\nmigration-check: {len(runs) - len(failed)}/{len(runs)} runs as expected in {seconds:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
