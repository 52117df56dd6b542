"""The Makefile's newcomer targets: what they print when Docker is missing, and the recipe list."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")
NO_DOCKER_ROUTES = "Without Docker: install the PostgreSQL server binaries"

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def make(target: str, bindir: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    """Run a target with ``bindir`` first on PATH and no other Docker on it."""
    dirs = [d for d in os.environ["PATH"].split(os.pathsep) if d and not any(
        (Path(d) / tool).exists() for tool in ("docker", "docker-compose")
    )]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAKE")}
    env["PATH"] = os.pathsep.join([str(bindir), *dirs])
    return subprocess.run(
        ["make", "--no-print-directory", target, *variables],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_without_docker_compose_one_line_names_the_docker_free_routes(tmp_path: Path) -> None:
    # VENV: before the first `make test` nobody can ask the provider where the binaries are.
    result = make("db-up", tmp_path, f"VENV={tmp_path / 'no-venv-yet'}")

    assert result.returncode != 0
    assert result.stdout.count(NO_DOCKER_ROUTES) == 1
    assert "DATABASE_URL" in result.stdout
    assert "command not found" not in result.stdout + result.stderr


def test_db_down_without_docker_compose_has_nothing_to_stop(tmp_path: Path) -> None:
    result = make("db-down", tmp_path)

    assert result.returncode == 0
    assert result.stdout == (
        "make db-down: no Docker compose here, so make db-up cannot have started the service: nothing to stop.\n"
    )


def test_a_docker_without_the_compose_plugin_gets_the_same_line(tmp_path: Path) -> None:
    docker = tmp_path / "docker"
    docker.write_text('#!/bin/bash\necho "unknown flag: --detach" >&2\nexit 125\n')
    docker.chmod(0o755)

    result = make("db-up", tmp_path, f"VENV={tmp_path / 'no-venv-yet'}")

    assert result.returncode != 0
    assert result.stdout.count(NO_DOCKER_ROUTES) == 1
    assert "unknown flag" not in result.stdout + result.stderr


def test_db_up_without_docker_says_the_installed_binaries_are_enough(tmp_path: Path) -> None:
    for name in ("initdb", "postgres"):  # found first on PATH, as the provider looks
        (tmp_path / name).write_text("#!/bin/sh\nexit 1\n")
        (tmp_path / name).chmod(0o755)

    result = make("db-up", tmp_path)

    assert result.returncode != 0
    assert result.stdout.strip() == (
        "make db-up: no Docker compose here, and the tests need none: the PostgreSQL server binaries are in "
        f"{tmp_path}, so `make test` starts a throwaway cluster of its own."
    )


def test_make_list_shows_each_recipe_with_its_doc_section(tmp_path: Path) -> None:
    result = make("list", tmp_path)

    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "Testing Timeouts" in lines["test_a_timeout"]
    assert "How to" in lines["test_a_timeout"]
    assert "beyond the doc" in lines["fast_forward_time"]
    assert set(lines) == {p.parent.name for p in (ROOT / "recipes").glob("*/README.md")}


def test_make_copy_needs_only_the_standard_library(tmp_path: Path) -> None:
    # -S: no site-packages at all, as with a bare system python3 before any venv exists.
    result = subprocess.run(
        [sys.executable, "-S", "-E", "-m", "tools.copy_recipe", "rollback_each_test", str(tmp_path / "tests")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tests" / "rollback_each_test" / "test_users.py").is_file()
    assert (tmp_path / "tests" / "postgres_provider.py").is_file()
    assert "pip install 'asyncpg>=0.32,<0.33'" in result.stdout
