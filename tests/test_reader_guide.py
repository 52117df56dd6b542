"""The README as a guide: every doc section has a recipe, every errata and troubleshooting row a real test."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

# The sections of the reference doc *Async Testing Patterns*, in its order.
DOC_SECTIONS = [
    "Setup",
    "Basic Async Tests",
    "Async Fixtures",
    "Fixture Scopes",
    "Testing Timeouts",
    "Testing Cancellation",
    "Testing gather",
    "Testing TaskGroup",
    "Mocking Async Functions",
    "Testing aiohttp",
    "Testing WebSockets",
    "Event Loop Fixtures",
    "Testing Queues",
    "Best Practices",
]
BEYOND_THE_DOC = "none — beyond the doc"
TEST_LINK = re.compile(r"\[`(test_\w+)`\]\((recipes/\w+/test_\w+\.py)#L\d+(?:-L\d+)?\)")


def section(title: str) -> str:
    """The README text under a `## ` or `### ` heading that starts with ``title``."""
    match = re.search(rf"^#+ {re.escape(title)}.*?$(.*?)(?=^#+ )", README, re.M | re.S)
    assert match, f"README.md has no section {title!r}"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[1:]]  # without the header


def section_of(cell: str) -> int:
    for index, name in enumerate(DOC_SECTIONS):
        if cell.startswith(name):
            return index
    raise AssertionError(f"{cell!r} is not a section of the doc")


def test_every_doc_section_has_a_recipe_in_the_doc_order() -> None:
    sections = [section_of(row[0]) for row in table_rows(section("Part I"))]

    assert sorted(set(sections)) == list(range(len(DOC_SECTIONS))), "a doc section has no recipe"
    assert sections == sorted(sections), "Part I rows must follow the doc's order"


@pytest.mark.parametrize("readme", sorted((ROOT / "recipes").glob("*/README.md")), ids=lambda p: p.parent.name)
def test_every_recipe_names_its_doc_section(readme: Path) -> None:
    match = re.search(r"^\*\*Doc section:\*\* (.+)$", readme.read_text(), re.M)
    assert match, "the README needs a '**Doc section:** ...' line"
    if match.group(1) != BEYOND_THE_DOC:
        section_of(match.group(1))
    link = f"(recipes/{readme.parent.name}/)"
    if match.group(1) != BEYOND_THE_DOC:
        (row,) = [row for row in table_rows(section("Part I")) if link in row[1]]
        assert row[0] == match.group(1), "the README's Part I table names the doc section as the recipe does"
    else:
        assert link in section("Part II") + section("Part III"), "list it in the README's Part II or Part III table"


@pytest.mark.parametrize("title", ["Errata", "Troubleshooting"])
def test_every_row_names_a_test_that_exists(title: str) -> None:
    rows = table_rows(section(title))
    assert len(rows) >= 10
    for row in rows:
        links = TEST_LINK.findall(row[-1])
        assert links, f"{title} row {row[0]!r} must link the test that proves it"
        for test, path in links:
            tree = ast.parse((ROOT / path).read_text())
            defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
            assert test in defined, f"{title} row {row[0]!r}: {path} has no {test}"


def test_errata_cover_the_known_traps_in_the_doc() -> None:
    errata = section("Errata")
    for trap in [
        "# Recommended",  # inline comment in the ini file
        "asyncio_default_fixture_loop_scope",
        "async def async_client",  # async @pytest.fixture outside auto mode
        'scope=\\"session\\"',  # wider-scoped async fixture without loop_scope
        "event_loop_policy",
        "httpbin.org",
        "asyncio.sleep(0.01)",  # sleep-based synchronisation
        "pytest.raises(ExceptionGroup)",
        'execute(\\"BEGIN\\")',
    ]:
        assert trap.replace("\\", "") in errata.replace("\\", ""), f"the errata table lacks {trap!r}"


def test_troubleshooting_lists_the_messages_users_search_for() -> None:
    troubleshooting = section("Troubleshooting")
    for message in [
        "attached to a different loop",
        "Event loop is closed",
        "another operation is in progress",
        "fixture 'event_loop' not found",
        "async def functions are not natively supported",
        "Unclosed client session",
        "Task was destroyed but it is pending",
        "was never awaited",
        "ScopeMismatch",
        "asyncio_default_fixture_loop_scope",
    ]:
        assert message in troubleshooting, f"the troubleshooting table lacks {message!r}"
