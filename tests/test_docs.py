"""The reader's pages: no heading twice, README short, and docs/ tables that match their results files.

Also the writers behind those tables: a run over some recipes (or some comparisons) never
replaces the full table, and `make bench` names every slow test with its reason.
"""

import contextlib
import json
import re
import sys
import types
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bench
import bench.__main__ as bench_main
from bench import harness, suite, timings_plugin
from bench.markdown import render_markdown as render_bench
from tools import coverage_gate, doc_tables, mutate
from tools.common import Recipe

pytest_plugins = ["pytester"]  # one sandbox, for the timings plugin; declared here, not in addopts

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_LINES = 300
MARKDOWN = [
    README,
    ROOT / "CONTRIBUTING.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "recipes").glob("*/README.md")),
]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def headings(text: str) -> list[str]:
    """The text of every markdown heading, outside fenced code blocks."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^#{1,6} +(.+?)\s*#*$", line)):
            found.append(match.group(1))
    return found


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_heading_appears_twice(page: Path) -> None:
    repeated = [title for title, count in Counter(headings(page.read_text())).items() if count > 1]
    assert not repeated, f"{page.relative_to(ROOT)} repeats the heading(s) {repeated}"


def test_headings_skip_code_blocks() -> None:
    text = "# Title\n```python\n# a comment\n# a comment\n```\n## Part\n"
    assert headings(text) == ["Title", "Part"]


def test_readme_is_at_most_300_lines() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/"


@pytest.mark.parametrize("table", doc_tables.tables(), ids=lambda t: t.marker)
def test_docs_table_is_what_its_results_file_renders(table: doc_tables.Table) -> None:
    shown = doc_tables.between_markers(table.page.read_text(), table.marker)
    assert shown == table.rendered().strip("\n"), (
        f"the {table.marker} table in {doc_tables.shown(table.page)} differs from "
        f"{doc_tables.shown(table.results_file)}: re-run the command that measures it, "
        "or `python -m tools.doc_tables` after changing a renderer"
    )


def test_readme_links_to_the_figures_instead_of_copying_them() -> None:
    text = README.read_text()
    assert "docs/verification.md" in text
    assert "docs/benchmarks.md" in text
    for table in doc_tables.tables():
        header = next(line for line in table.rendered().splitlines() if line.startswith("| "))
        assert header not in text, f"README.md copies the {table.marker} table; link to {table.page.name}"


@pytest.mark.parametrize(
    "page", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: str(p.relative_to(ROOT))
)
def test_relative_links_lead_to_files_that_exist(page: Path) -> None:
    """Links into recipes/ are left to tests/test_layout.py, which also checks their lines."""
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:", "#", "recipes/")):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"


# --- the markers ---


def test_replacing_between_markers_keeps_the_prose_around_them() -> None:
    text = "intro\n<!-- t:start -->\nold\n<!-- t:end -->\noutro\n"

    updated = doc_tables.replace_between_markers(text, "t", "new\nlines\n")

    assert updated == "intro\n<!-- t:start -->\nnew\nlines\n<!-- t:end -->\noutro\n"
    assert doc_tables.between_markers(updated, "t") == "new\nlines"


@pytest.mark.parametrize(
    "text",
    ["no markers", "<!-- t:start -->\n<!-- t:start -->\n<!-- t:end -->", "<!-- t:end -->\n<!-- t:start -->"],
)
def test_missing_repeated_or_reversed_markers_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="t:"):
        doc_tables.between_markers(text, "t")


def test_markdown_tables_right_align_columns_of_numbers() -> None:
    table = doc_tables.markdown_table(["name", "count", "note"], [["a", "1,200", ""], ["b", "99.5%", "x"]])
    assert table.splitlines()[1] == "|---|---:|---|"


# --- only a full run writes ---


@pytest.fixture
def recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Recipe]:
    """Three empty recipes standing in for recipes/, and no PostgreSQL."""
    found = []
    for name in ("alpha", "beta", "gamma"):
        (tmp_path / "recipes" / name).mkdir(parents=True)
        found.append(Recipe(tmp_path / "recipes" / name))

    def all_recipes(names: tuple[str, ...] | list[str] = ()) -> list[Recipe]:
        return [r for r in found if r.name in names] if names else found

    @contextlib.contextmanager
    def no_server(needed: bool) -> Iterator[None]:
        yield None

    for module in (coverage_gate, mutate):
        monkeypatch.setattr(module, "all_recipes", all_recipes)
        monkeypatch.setattr(module, "postgres_server", no_server)
    return found


def page_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: Any) -> Path:
    """Point ``module``'s page and results file into tmp_path; the page holds an empty table."""
    page = tmp_path / "page.md"
    page.write_text(f"prose\n<!-- {module.MARKER}:start -->\n<!-- {module.MARKER}:end -->\n")
    monkeypatch.setattr(module, "PAGE", page)
    monkeypatch.setattr(module, "RESULTS_FILE", tmp_path / "results" / f"{module.MARKER}.json")
    return page


def test_coverage_writes_its_table_only_after_a_run_over_every_recipe(
    recipes: list[Recipe], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = page_for(tmp_path, monkeypatch, coverage_gate)
    monkeypatch.setattr(
        coverage_gate, "run_recipe", lambda r, workdir, dsn: coverage_gate.Run(r, 0, "", tmp_path / "x", 0.1)
    )
    monkeypatch.setattr(
        coverage_gate,
        "measure",
        lambda run: [coverage_gate.ModuleCoverage(run.recipe.name, "m.py", 10, 0, 4, 0, 0, 100.0, "")],
    )

    assert coverage_gate.main(["--jobs", "1", "alpha", "beta"]) == 0
    assert doc_tables.between_markers(page.read_text(), "coverage") == ""
    assert not coverage_gate.RESULTS_FILE.exists()

    assert coverage_gate.main(["--jobs", "1"]) == 0
    results = doc_tables.load(coverage_gate.RESULTS_FILE)
    assert [m["recipe"] for m in results["modules"]] == ["alpha", "beta", "gamma"]
    shown = doc_tables.between_markers(page.read_text(), "coverage")
    assert shown == coverage_gate.render_markdown(results)
    assert "| gamma | m.py | 10 | 0 | 4 | 0 | 100.0% |" in shown
    assert page.read_text().startswith("prose\n")


def fake_outcome(recipe: Recipe, base: Path, dsn: str | None, children: int) -> mutate.Outcome:
    key = f"recipes.{recipe.name}.m.x_f__mutmut_"
    statuses = {f"{key}{n}": "killed" for n in range(1, 10)} | {f"{key}10": "survived"}
    return mutate.Outcome(recipe, statuses, {f"{key}10": "--- a\n+++ b\n-    return x + 1\n+    return x - 1\n"})


def test_mutate_writes_its_table_only_after_a_run_over_every_recipe(
    recipes: list[Recipe], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = page_for(tmp_path, monkeypatch, mutate)
    monkeypatch.setattr(mutate, "MUTMUT", Path(__file__))  # any file: mutmut itself is never started
    monkeypatch.setattr(mutate, "mutate", fake_outcome)

    assert mutate.main(["--jobs", "1", "gamma"]) == 0
    assert doc_tables.between_markers(page.read_text(), "mutation") == ""
    assert not mutate.RESULTS_FILE.exists()

    assert mutate.main(["--jobs", "1"]) == 0
    results = doc_tables.load(mutate.RESULTS_FILE)
    shown = doc_tables.between_markers(page.read_text(), "mutation")
    assert shown == mutate.render_markdown(results)
    assert "| alpha | 10 | 9 | 1 | 0 | 90.0% |" in shown
    assert "| all recipes | 30 | 27 | 3 | 0 | 90.0% |" in shown
    assert "- `beta`: `m: f #10` (survived)" in shown
    assert "  - `+ return x - 1`" in shown


def fake_comparison(slug: str) -> harness.Comparison:
    comparison = harness.Comparison(key="1", slug=slug, title=f"fake {slug}", scenario="", reference="a")
    comparison.rows = [harness.Row("a", "s", [2.0, 2.0]), harness.Row("b", "s", [1.0, 1.0])]
    return comparison


def test_bench_writes_its_tables_only_after_a_run_of_every_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = page_for(tmp_path, monkeypatch, bench_main)
    # Stand-ins for the comparison modules, which `python -m bench` imports only when selected.
    for name, slug in (
        ("waiting", "waiting"),
        ("databases", "databases"),
        ("event_loops", "loops"),
        ("suite", "suite"),
    ):
        fake = types.ModuleType(f"bench.{name}")
        setattr(fake, "compare", lambda *args, slug=slug, **kwargs: fake_comparison(slug))  # noqa: B010
        monkeypatch.setitem(sys.modules, f"bench.{name}", fake)
        monkeypatch.setattr(bench, name, fake, raising=False)

    assert bench_main.main(["--only", "suite", "--output", str(tmp_path / "one.json")]) == 0
    assert list(json.loads((tmp_path / "one.json").read_text())["comparisons"]) == ["suite"]
    assert doc_tables.between_markers(page.read_text(), "bench") == ""
    assert not bench_main.RESULTS_FILE.exists()

    assert bench_main.main([]) == 0
    results = doc_tables.load(bench_main.RESULTS_FILE)
    assert list(results["comparisons"]) == ["waiting", "databases", "loops", "suite"]
    shown = doc_tables.between_markers(page.read_text(), "bench")
    assert shown == render_bench(results)
    assert "| b | 1.00 | 1.00 | 1.00 | s | 2.00x better |  |" in shown


# --- make bench: slow tests and sandboxes ---


def test_a_slow_test_gets_the_reason_of_the_longest_matching_key() -> None:
    reasons = {
        "recipes/x/": "the whole recipe",
        "recipes/x/*::test_slow": "this test, in whichever file of recipe x",
    }
    assert (
        suite.reason_for("recipes/x/test_pitfalls.py::test_slow[uvloop]", reasons) == reasons["recipes/x/*::test_slow"]
    )
    assert suite.reason_for("recipes/x/test_x.py::test_other", reasons) == "the whole recipe"
    assert suite.reason_for("recipes/y/test_y.py::test_slow", reasons) == suite.NO_REASON
    # Brackets in a key are plain text, not a pattern.
    assert suite.reason_for("tests/t.py::test_a[1]", {"tests/t.py::test_a[1]": "one id"}) == "one id"
    assert suite.reason_for("tests/t.py::test_a1", {"tests/t.py::test_a[1]": "one id"}) == suite.NO_REASON


def test_slow_tests_are_listed_slowest_first_and_an_unknown_one_says_so() -> None:
    timings = {"t.py::fast": 0.01, "t.py::known": 0.3, "t.py::unknown": 0.9}

    slow = suite.slow_tests(timings, {"t.py::known": "starts workers"}, {"t.py::unknown": {"subprocess": 1}})

    assert slow == [
        {
            "nodeid": "t.py::unknown",
            "seconds": 0.9,
            "reason": "no reason given",
            "sandbox_runs": "1 subprocess pytest run",
        },
        {"nodeid": "t.py::known", "seconds": 0.3, "reason": "starts workers", "sandbox_runs": ""},
    ]


def test_the_sandbox_summary_counts_only_tests_that_request_pytester() -> None:
    timings = {"a": 0.010, "b": 0.030, "c": 0.050, "d": 5.0}
    kinds = {"a": suite.SANDBOX, "b": suite.SANDBOX, "c": suite.SANDBOX, "d": "PostgreSQL"}

    assert suite.sandbox_summary(timings, kinds) == {"tests": 3, "total_seconds": 0.09, "median_ms": 30.0}


def test_every_key_of_the_slow_tests_map_has_a_reason() -> None:
    reasons = suite.known_slow()
    assert reasons, "bench/slow_tests.toml has no [slow] table"
    assert all(isinstance(reason, str) and len(reason) > 10 for reason in reasons.values())


def test_the_sandbox_floor_is_one_passing_in_process_session_per_test(pytester: pytest.Pytester) -> None:
    suite.write_sandbox_floor(pytester.path, 2)

    quiet = ("-p", "no:randomly", "-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:aiohttp")
    result = pytester.runpytest(*quiet, "-p", "no:cacheprovider", "-v", ".")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*::test_sandbox_0 PASSED*", "*::test_sandbox_1 PASSED*"])
    assert (pytester.path / "conftest.py").read_text() == (ROOT / "conftest.py").read_text()


def test_the_timings_plugin_counts_the_sandbox_runs_of_each_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    timings = tmp_path / "timings.json"
    monkeypatch.setenv("BENCH_TIMINGS_FILE", str(timings))
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_outer="""
        pytest_plugins = ["pytester"]

        def test_runs_one_sandbox(pytester):
            pytester.makepyfile("def test_inner():\\n    pass\\n")
            pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider").assert_outcomes(passed=1)

        def test_runs_none():
            pass
        """
    )

    outer = list(timings_plugin._active)  # the bench's own recorder, when the bench runs this suite
    quiet = ("-p", "no:randomly", "-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:aiohttp")
    pytester.runpytest("-p", "bench.timings_plugin", *quiet, "-p", "no:cacheprovider").assert_outcomes(passed=2)

    recorded = json.loads(timings.read_text())
    assert recorded["sandbox_runs"] == {"test_outer.py::test_runs_one_sandbox": {"in-process": 1}}
    assert recorded["kinds"]["test_outer.py::test_runs_one_sandbox"] == suite.SANDBOX
    assert set(recorded["durations"]["test_outer.py::test_runs_none"]) == {"setup", "call", "teardown"}
    assert timings_plugin._active == outer, "the sandbox's recorder is gone, an outer one is kept"
    assert hasattr(pytest.Pytester.runpytest_inprocess, "__wrapped__") == bool(outer), "patched only while recording"
