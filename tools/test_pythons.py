"""`make test-pythons`: the whole suite on every CPython >= 3.11 this machine has.

3.11 (or whichever Python built .venv) runs in .venv. Each other minor version found, as
``python3.X`` on PATH or as a pyenv version (the newest patch release), gets a venv of its
own, .venv-3.X, installed from requirements.lock and re-installed when the lock or
pyproject.toml change. A version that is not installed is reported, not failed.

    python -m tools.test_pythons [--jobs N] [-- PYTEST_ARGS ...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tools.common import LOCK_FILE, ROOT, child_env, failed_tests, pytest_summary, run_parallel, table, tail

MINORS = range(11, 15)  # 3.11 .. 3.14: the versions the cookbook claims or will meet next


@dataclass
class Target:
    minor: int
    python: Path | None  # the interpreter, None when not installed
    venv: Path
    version: str = ""
    result: str = ""
    ok: bool = False
    failures: str = ""
    seconds: float = 0.0


def pyenv_root() -> Path:
    if root := os.environ.get("PYENV_ROOT"):
        return Path(root)
    if pyenv := shutil.which("pyenv"):
        done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    return Path.home() / ".pyenv"


def find_python(minor: int) -> Path | None:
    """The newest pyenv 3.<minor>.N (no free-threaded or dev builds), else a working python3.<minor> on PATH."""
    root = pyenv_root()
    releases = [p for p in (root / "versions").glob(f"3.{minor}.*") if re.fullmatch(rf"3\.{minor}\.\d+", p.name)]
    candidates = [
        release / "bin" / "python"
        for release in sorted(releases, key=lambda p: int(p.name.rsplit(".", 1)[1]), reverse=True)
    ]
    if found := shutil.which(f"python3.{minor}"):
        candidates.append(Path(found))
    for python in candidates:
        # A pyenv shim exists for every version pyenv knows but fails unless that version is selected.
        check = [str(python), "-c", f"import sys; sys.exit(sys.version_info[:2] != (3, {minor}))"]
        if python.is_file() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return python
    return None


def main_venv_minor() -> int:
    return sys.version_info.minor


def targets() -> list[Target]:
    found = []
    for minor in MINORS:
        if minor == main_venv_minor():
            found.append(Target(minor, Path(sys.executable), ROOT / ".venv"))
        else:
            found.append(Target(minor, find_python(minor), ROOT / f".venv-3.{minor}"))
    return found


def stamp_of(venv: Path) -> Path:
    text = LOCK_FILE.read_text() + (ROOT / "pyproject.toml").read_text()
    return venv / f".installed-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def ensure_venv(target: Target) -> str:
    """Create/refresh target.venv from requirements.lock; return an error, or ''."""
    assert target.python is not None
    if target.venv == ROOT / ".venv" or stamp_of(target.venv).is_file():
        return ""
    shutil.rmtree(target.venv, ignore_errors=True)
    python = target.venv / "bin" / "python"
    steps = [
        [str(target.python), "-m", "venv", str(target.venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(LOCK_FILE)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, env=child_env(), check=False)
        if done.returncode != 0:
            return f"{' '.join(step[:4])}... failed:\n{tail(done.stdout + done.stderr)}"
    stamp_of(target.venv).touch()
    return ""


def run_suite(target: Target, pytest_args: list[str]) -> Target:
    started = time.monotonic()
    if target.python is None:
        target.result = "not installed (looked in pyenv and on PATH)"
        target.ok = True
        return target
    if error := ensure_venv(target):
        target.result, target.failures = "venv not built", error
        return target
    python = target.venv / "bin" / "python"
    target.version = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    done = subprocess.run(
        [str(target.venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", *pytest_args],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    target.result = pytest_summary(output, done.returncode)
    target.ok = done.returncode == 0
    if not target.ok:
        failed = failed_tests(output)
        target.failures = "\n".join(failed) if failed else tail(output)
    target.seconds = time.monotonic() - started
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="suites at a time (default: %(default)s)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = run_parallel(lambda t: run_suite(t, args.pytest_args), targets(), args.jobs)
    print(
        table(
            ["python", "version", "venv", "result", "seconds"],
            (
                [
                    f"3.{t.minor}",
                    t.version or "-",
                    t.venv.name if t.python else "-",
                    ("skip " if t.python is None else "ok   " if t.ok else "FAIL ") + t.result,
                    f"{t.seconds:.0f}",
                ]
                for t in results
            ),
        )
    )
    for t in results:
        if not t.ok:
            print(f"\nFAIL python 3.{t.minor} ({t.python}):\n{t.failures}")
    missing = [f"3.{t.minor}" for t in results if t.python is None]
    if missing:
        print(f"\nnot installed here: {', '.join(missing)} (install with pyenv to include them)")
    print(f"test-pythons: {time.monotonic() - started:.0f} s")
    return 0 if all(t.ok for t in results) else 1


if __name__ == "__main__":
    sys.exit(main())
