"""`make compat` and `make canary`: how a run is read, how its results become tables and README lines,
and that the pages, READMEs and pyproject.toml say what the latest saved results imply."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

from tools import canary, compat, doc_tables
from tools.common import ROOT, Recipe, all_recipes

D = compat.DASH  # the en dash between the ends of a range

REMEASURE = "run `make compat` (about 10 minutes; it rewrites the line from the results)"


def results_with(cells: dict[str, dict[str, str]], needs: tuple[str, ...] = ()) -> dict[str, Any]:
    """Results for recipes given as {recipe: {column key: status}} over a small matrix."""
    columns = [
        ("pytest-asyncio 0.23", "pytest-asyncio", {"pytest-asyncio": "0.23.8", "pytest": "8.4.2"}),
        ("pytest-asyncio 0.24", "pytest-asyncio", {"pytest-asyncio": "0.24.0", "pytest": "8.4.2"}),
        ("pytest-asyncio 1.4", "pytest-asyncio", {"pytest-asyncio": "1.4.1.post1", "pytest": "9.2.0"}),
        ("pytest 8.4", "pytest", {"pytest-asyncio": "1.5.0", "pytest": "8.4.2"}),
        ("aiohttp 3.12", "aiohttp", {"aiohttp": "3.12.15", "pytest-aiohttp": "1.1.1"}),
        ("pytest-aiohttp 1.0", "pytest-aiohttp", {"aiohttp": "3.14.5", "pytest-aiohttp": "1.0.5"}),
        ("Python 3.12", "python", {"python": "3.12.12"}),
    ]
    lock = {"pytest-asyncio": "1.5.0", "pytest": "9.2.0", "aiohttp": "3.14.5", "pytest-aiohttp": "1.1.1"}
    return {
        "command": "python -m tools.compat",
        "measured": "2026-11-30",
        "source": "abc1234",
        "seconds": 60,
        "jobs": 2,
        "load": "1.0 1.0 1.0",
        "columns": [
            {"key": "lock", "group": "lock", "installed": {"python": "3.11.14", **lock}, "released": [], "error": ""},
            *(
                {
                    "key": key,
                    "group": group,
                    "installed": {"python": "3.11.14", **lock, **versions},
                    "released": [],
                    "error": "",
                }
                for key, group, versions in columns
            ),
        ],
        "recipes": {
            name: {
                "needs": ["pytest", "pytest-asyncio", *needs],
                "cells": {
                    key: {"status": status, "reason": "why" if status == "n/a" else "", "detail": f"{name} {key}"}
                    for key, status in statuses.items()
                },
            }
            for name, statuses in cells.items()
        },
    }


ALL_PASS = {
    "lock": "pass",
    "pytest-asyncio 0.23": "pass",
    "pytest-asyncio 0.24": "pass",
    "pytest-asyncio 1.4": "pass",
    "pytest 8.4": "pass",
    "aiohttp 3.12": "pass",
    "pytest-aiohttp 1.0": "pass",
    "Python 3.12": "pass",
}


# --- reading a run ---


def test_the_first_error_is_the_first_e_line_of_pytests_report() -> None:
    output = "....F\n___ test_x ___\n    def test_x():\n>       assert 1 == 2\nE       assert 1 == 2\nE        +1\n"
    assert compat.first_error(output) == "assert 1 == 2"


def test_without_an_e_line_the_first_error_is_pytests_or_pips_error_line() -> None:
    output = "ERROR: Unknown config option: asyncio_default_test_loop_scope\n\nmore\n"
    assert compat.first_error(output) == "ERROR: Unknown config option: asyncio_default_test_loop_scope"
    assert compat.first_error("") == "no output"


def test_a_failed_cell_names_the_file_of_the_first_failing_test_and_its_error() -> None:
    output = (
        "F.\nE   TypeError: boom\n=== short test summary info ===\n"
        "FAILED recipes/r/test_pitfalls.py::test_a - TypeError: boom\n1 failed, 1 passed in 0.10s\n"
    )
    entry = compat.cell(1, output, "", 0.12)
    assert entry["status"] == "fail"
    assert entry["detail"] == "test_pitfalls.py::test_a: TypeError: boom"
    assert entry["summary"] == "1 failed, 1 passed in 0.10s"
    assert compat.cell(1, output, "loop_scope came in 0.24", 0.1)["status"] == "n/a"
    passed = compat.cell(0, "1 passed in 0.01s\n", "loop_scope came in 0.24", 0.1)
    assert passed["status"] == "pass"
    assert passed["declared_na_but_passed"]


def test_the_packages_a_pip_conflict_names_are_found() -> None:
    output = """\
ERROR: Cannot install aiohttp==3.12.15 and pytest-aiohttp==1.1.1 because these package versions have conflicting
dependencies.

The conflict is caused by:
    aiohttp 3.12.15 depends on multidict<7.0 and >=4.5
    The user requested (constraint) multidict==7.2.1
    pytest-aiohttp 1.1.1 depends on aiohttp>=3.11.0
"""
    assert compat.conflicting_packages(output) == {"aiohttp", "multidict", "pytest-aiohttp"}
    assert compat.conflict_causes(output) == (
        "aiohttp 3.12.15 depends on multidict<7.0 and >=4.5; The user requested (constraint) multidict==7.2.1; "
        "pytest-aiohttp 1.1.1 depends on aiohttp>=3.11.0"
    )
    missing = (
        "ERROR: Ignored the following yanked versions: 0.22.0\n"
        "ERROR: Could not find a version that satisfies the requirement x==9 (from versions: 1.0)\n"
        "ERROR: No matching distribution found for x==9\n"
    )
    assert compat.pip_error(missing) == "ERROR: No matching distribution found for x==9"
    assert compat.pip_error(output).startswith("ERROR: Cannot install aiohttp==3.12.15")


def test_the_ini_leaves_out_options_the_columns_pytest_asyncio_predates() -> None:
    env = compat.Env(compat.Column("x", "pytest-asyncio"), None, installed={"pytest-asyncio": "0.24.0"})
    ini = compat.ini_for(env)
    assert ini.startswith("[pytest]\n")
    assert "asyncio_default_fixture_loop_scope = function" in ini
    assert "asyncio_default_test_loop_scope" not in ini
    assert "filterwarnings =\n    error" in ini
    assert "addopts = --strict-markers" in ini
    env.installed["pytest-asyncio"] = "1.5.0"
    assert "asyncio_default_test_loop_scope = function" in compat.ini_for(env)


def test_a_recipe_using_a_feature_a_version_lacks_is_not_applicable_there(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "test_r.py").write_text('@pytest.mark.asyncio(loop_scope="module")\n')
    recipe = Recipe(tmp_path / "r")
    old = compat.Env(compat.Column("x", "pytest-asyncio"), None, installed={"pytest-asyncio": "0.23.8"})
    new = compat.Env(compat.Column("y", "pytest-asyncio"), None, installed={"pytest-asyncio": "0.24.0"})
    assert "0.24" in compat.not_applicable(recipe, old)
    assert compat.not_applicable(recipe, new) == ""


def test_a_config_option_name_is_not_mistaken_for_loop_scope_keyword() -> None:
    loop_scope = next(f for f in compat.FEATURES if f.since == "0.24")
    assert not loop_scope.used_by(["asyncio_default_fixture_loop_scope = function"])
    assert loop_scope.used_by(['@pytest_asyncio.fixture(loop_scope = "session")'])


# --- what the results imply ---


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([("0.23.8", False), ("0.24.0", True), ("1.5.0", True)], ("0.24.0", "1.5.0")),
        ([("0.24.0", True), ("1.3.0", False), ("1.4.1", True), ("1.5.0", True)], ("1.4.1", "1.5.0")),
        ([("1.5.0", True), ("0.24.0", True)], ("0.24.0", "1.5.0")),  # order does not matter
        ([("1.4.1", True), ("1.5.0", False)], None),  # the newest fails: nothing to claim
        ([], None),
    ],
)
def test_the_supported_range_is_the_passing_run_that_ends_at_the_newest(
    points: list[tuple[str, bool]], expected: tuple[str, str] | None
) -> None:
    assert compat.supported(points) == expected


def test_the_works_with_line_names_only_the_packages_the_recipe_needs() -> None:
    plain = results_with({"plain": ALL_PASS})
    assert (
        compat.works_with(plain, "plain")
        == f"**Works with:** pytest-asyncio 0.23{D}1.5, pytest 8.4+, Python 3.11{D}3.12"
    )

    web = results_with(
        {"web": ALL_PASS | {"pytest-asyncio 0.23": "n/a", "aiohttp 3.12": "fail", "pytest-aiohttp 1.0": "fail"}},
        needs=("aiohttp", "pytest-aiohttp"),
    )
    assert compat.works_with(web, "web") == (
        f"**Works with:** pytest-asyncio 0.24{D}1.5, pytest 8.4+, aiohttp 3.14+, pytest-aiohttp 1.1+, "
        f"Python 3.11{D}3.12"
    )


def test_a_recipe_failing_on_a_newer_python_says_so() -> None:
    results = results_with({"r": ALL_PASS | {"Python 3.12": "fail", "pytest 8.4": "fail"}})
    assert (
        compat.works_with(results, "r")
        == f"**Works with:** pytest-asyncio 0.23{D}1.5, pytest 9.2+, Python: none of the versions tested"
    )


def test_the_floor_is_the_lowest_version_every_recipe_passes_on() -> None:
    results = results_with(
        {
            "a": ALL_PASS | {"pytest-asyncio 0.23": "fail"},
            "b": ALL_PASS | {"pytest-asyncio 0.23": "n/a", "pytest-asyncio 0.24": "fail", "aiohttp 3.12": "fail"},
        }
    )
    assert compat.floors(results) == {
        "pytest-asyncio": "1.4.1.post1",
        "pytest": "8.4.2",
        "aiohttp": "3.14.5",
        "pytest-aiohttp": "1.0.5",
    }
    text = compat.render_floors(results)
    assert "| pytest-asyncio | 1.4.1.post1 | `b` |" in text  # a passes from 0.24, b only from 1.4
    assert "| pytest | 8.4.2 | every recipe passes on the oldest |" in text
    assert text.endswith("\n- `a`: pytest-asyncio 0.24")  # a passes aiohttp 3.12 too, but does not use aiohttp
    assert "- `b`" not in text


def test_the_matrix_numbers_failures_and_letters_reasons_once_each() -> None:
    results = results_with(
        {
            "a": ALL_PASS | {"pytest-asyncio 0.23": "n/a", "aiohttp 3.12": "fail"},
            "b": ALL_PASS | {"pytest-asyncio 0.23": "n/a"},
        }
    )
    shown = compat.render_markdown(results)
    assert "| `a` | pass | n/a (a) | pass | pass | pass | fail [1] | pass | pass |" in shown  # the lock first
    assert "| `b` | pass | n/a (a) |" in shown
    assert "| **passing** | 2/2 | 0/2 | 2/2 | 2/2 | 2/2 | 1/2 | 2/2 | 2/2 |" in shown
    assert "- (a) why" in shown
    assert "1. `a`: a aiohttp 3.12" in shown


def test_a_failure_that_passes_when_run_again_is_shown_as_flaky() -> None:
    results = results_with({"a": ALL_PASS})
    results["recipes"]["a"]["cells"]["lock"]["flaky"] = "test_x.py::test_y: boom"
    shown = compat.render_markdown(results)
    assert "| `a` | pass (flaky) |" in shown
    assert "- `a` in lock: test_x.py::test_y: boom" in shown


# --- the READMEs' line ---


def test_the_works_with_line_goes_after_the_doc_section_line_and_is_replaced_later() -> None:
    text = "# How to x\n\n**Doc section:** Fixtures\n\n## The problem\n"
    first = compat.with_works_with(text, f"**Works with:** pytest-asyncio 1.0{D}1.5")
    assert (
        first
        == f"# How to x\n\n**Doc section:** Fixtures\n\n**Works with:** pytest-asyncio 1.0{D}1.5\n\n## The problem\n"
    )
    again = compat.with_works_with(first, f"**Works with:** pytest-asyncio 1.1{D}1.5")
    assert again == first.replace(f"1.0{D}1.5", f"1.1{D}1.5")
    with pytest.raises(ValueError, match="Doc section"):
        compat.with_works_with("# How to x\n", "**Works with:** x")


# --- the canary ---


def test_the_canary_lists_what_differs_from_the_lock_and_what_broke() -> None:
    changed = canary.newer_than_lock({"pytest": "99.0.0rc1", "pytest-asyncio": "1.5.0", "not-locked": "1.0"})
    assert changed == {"pytest": ("9.2.0", "99.0.0rc1")}
    shown = canary.render_markdown(
        {
            "command": "python -m tools.canary",
            "measured": "2026-11-30",
            "source": "abc",
            "seconds": 90,
            "error": "",
            "newer_than_lock": changed,
            "recipes": {"a": {"status": "pass", "detail": ""}, "b": {"status": "fail", "detail": "x.py: boom"}},
        }
    )
    assert "1 of 2 recipes pass on the newest releases" in shown
    assert "| pytest | 9.2.0 | 99.0.0rc1 |" in shown
    assert "- `b`: x.py: boom" in shown


# --- the saved results and what the repository says ---


@pytest.fixture(scope="module")
def saved() -> dict[str, Any]:
    if not compat.RESULTS_FILE.is_file():
        pytest.fail(f"{doc_tables.shown(compat.RESULTS_FILE)} is missing: {REMEASURE}")
    return doc_tables.load(compat.RESULTS_FILE)


def test_the_compatibility_page_is_what_the_results_render(saved: dict[str, Any]) -> None:
    text = compat.PAGE.read_text()
    assert doc_tables.between_markers(text, compat.MARKER) == compat.render_markdown(saved).strip("\n"), (
        "docs/compatibility.md differs from docs/results/compat.json: `python -m tools.compat --render`"
    )
    assert doc_tables.between_markers(text, compat.FLOORS_MARKER) == compat.render_floors(saved).strip("\n")


def test_the_canary_section_is_what_its_results_render() -> None:
    if not canary.RESULTS_FILE.is_file():
        pytest.fail("docs/results/canary.json is missing: run `make canary`")
    shown = doc_tables.between_markers(compat.PAGE.read_text(), canary.MARKER)
    assert shown == canary.render_markdown(doc_tables.load(canary.RESULTS_FILE)).strip("\n")


@pytest.mark.parametrize("recipe", all_recipes(), ids=lambda r: r.name)
def test_each_readme_says_what_the_latest_results_imply(recipe: Recipe, saved: dict[str, Any]) -> None:
    assert recipe.name in saved["recipes"], (
        f"recipes/{recipe.name} is not in {doc_tables.shown(compat.RESULTS_FILE)} yet: {REMEASURE}"
    )
    found = compat.WORKS_WITH.findall((recipe.path / "README.md").read_text())
    expected = compat.works_with(saved, recipe.name)
    assert found == [expected], (
        f"recipes/{recipe.name}/README.md should hold the line {expected!r} once, right after its "
        f"**Doc section:** line (found {found}): {REMEASURE}, or `python -m tools.compat --render` to "
        "write the lines from the saved results"
    )


def test_pyproject_declares_the_proven_floors(saved: dict[str, Any]) -> None:
    declared = {name: Version(version) for name, version in compat.declared_floors().items()}
    assert declared == {name: Version(version) for name, version in compat.floors(saved).items()}, (
        "the >= bounds in pyproject.toml should be the floors docs/compatibility.md shows: edit pyproject.toml "
        "(then check that `make lock` still resolves)"
    )


def test_every_feature_declaration_still_matches_some_recipe() -> None:
    sources = [path.read_text() for recipe in all_recipes() for path in recipe.sources]
    unused = [feature.reason for feature in compat.FEATURES if not feature.used_by(sources)]
    assert not unused, f"no recipe uses these any more; drop them from tools/compat.py FEATURES: {unused}"


def test_the_smoke_installs_the_floors_pyproject_declares() -> None:
    floor, lock = compat.smoke_columns()
    assert lock.group == "lock"
    assert set(floor.pins) == {f"{name}=={version}" for name, version in compat.declared_floors().items()}


def test_the_canary_workflow_runs_weekly_and_only_fails() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "canary.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the bare key `on` as True
    assert [entry["cron"] for entry in triggers["schedule"]] == ["17 5 * * 1"]
    assert "workflow_dispatch" in triggers
    steps = workflow["jobs"]["canary"]["steps"]
    assert any("make canary" in step.get("run", "") for step in steps)
    text = (ROOT / ".github" / "workflows" / "canary.yml").read_text()
    assert "issues: write" not in text
    assert "gh issue" not in text, "the canary fails the run; it opens nothing"
