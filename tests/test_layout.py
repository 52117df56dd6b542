"""The cookbook's own rules, checked: recipe layout, README shape, line links, index, compose file."""

import ast
import re
import textwrap
from pathlib import Path

import pytest
import yaml

import postgres_provider
from tools.relink_readmes import definitions

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted(p for p in (ROOT / "recipes").iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
README_SECTIONS = [
    "## The problem",
    "## The pattern",
    "## Files",
    "## Run it",
    "## What to look at",
    "## Pitfalls",
    "## Doc section",
]
MODULE_AIM, PATTERN_AIM, FIRST_TEST_BY, SNIPPET_AIM = 80, 150, 45, 15
# Files allowed over their aim, each with the reason (the entry goes once the file fits).
OVER_AIM: dict[str, str] = {
    "recipes/test_an_aiohttp_app/notes_app.py": "hostile-input guards: UTF-8 only, strict JSON, ASCII ids",
    "recipes/fake_an_upstream_service/upstream_client.py": "capped body and wait, broken HTTP, strict JSON",
    "recipes/fuzz_a_handler_with_hypothesis/test_hardened_app.py": "five properties: three endpoints, two round trips",
    "recipes/test_async_subprocesses/run_command.py": (
        "a program that cannot start is a domain error of its own; a second cancel during the clean-up"
    ),
    "recipes/test_async_subprocesses/test_run_command.py": (
        "a program that cannot start is a domain error of its own; a second cancel during the clean-up"
    ),
    "recipes/test_an_asgi_app_with_httpx/notes_api.py": "a JSON 413 by Content-Length and by count, as it streams",
    "recipes/test_an_asgi_app_with_httpx/test_notes_api.py": "the body limit tested by length, by header, chunked",
}
SNIPPET = re.compile(r"^## The pattern\n.*?^```python\n(.*?)^```$", re.M | re.S)
LINE_LINK = re.compile(r"\[([^\]]+)\]\(([^)#\s]+)#L(\d+)(?:-L(\d+))?\)")
ids = [recipe.name for recipe in RECIPES]


def modules_of(recipe: Path) -> list[Path]:
    return [
        p
        for p in recipe.glob("*.py")
        if not p.name.startswith("test_") and p.name not in ("conftest.py", "__init__.py")
    ]


def test_there_are_recipes() -> None:
    assert len(RECIPES) >= 2


def pattern_file(recipe: Path) -> Path:
    (found,) = (p for p in recipe.glob("test_*.py") if p.name != "test_pitfalls.py")
    return found


def requested_fixtures(tree: ast.AST) -> set[str]:
    return {
        arg.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
    }


@pytest.mark.parametrize("recipe", RECIPES, ids=ids)
def test_recipe_has_readme_a_pattern_file_and_a_module(recipe: Path) -> None:
    assert (recipe / "README.md").is_file()
    assert (recipe / "__init__.py").is_file(), "relative imports need the folder to be a package"
    tests = sorted(p.name for p in recipe.glob("test_*.py") if p.name != "test_pitfalls.py")
    assert len(tests) == 1, f"one pattern file test_<module>.py (pitfalls go to test_pitfalls.py), found {tests}"
    assert modules_of(recipe), "a recipe pairs its test file with a module of its own"
    assert re.fullmatch(r"[a-z][a-z0-9_]*", recipe.name), "folder names say the task in snake_case"


@pytest.mark.parametrize("recipe", RECIPES, ids=ids)
def test_the_pattern_file_runs_no_sandbox_and_opens_with_the_pattern(recipe: Path) -> None:
    source = pattern_file(recipe)
    tree = ast.parse(source.read_text())
    assert not requested_fixtures(tree) & {"pytester", "testdir"}, "sandboxes belong in test_pitfalls.py"
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "subprocess" not in imported, "subprocess runs belong in test_pitfalls.py"
    first = min(
        node.lineno
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    )
    assert first <= FIRST_TEST_BY, f"{source.name}: the first test is at line {first}; open with the pattern"


@pytest.mark.parametrize("recipe", RECIPES, ids=ids)
def test_a_pitfalls_file_declares_the_plugins_it_needs(recipe: Path) -> None:
    pitfalls = recipe / "test_pitfalls.py"
    if not pitfalls.is_file():
        return
    tree = ast.parse(pitfalls.read_text())
    if not requested_fixtures(tree) & {"pytester"}:
        return
    declared = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytest_plugins" for t in node.targets)
    ]
    message = 'test_pitfalls.py uses pytester: declare pytest_plugins = ["pytester"] so a plain copy passes'
    assert declared, message
    assert "pytester" in ast.literal_eval(declared[0]), message


@pytest.mark.parametrize("recipe", RECIPES, ids=ids)
def test_files_stay_within_their_aim_or_say_why(recipe: Path) -> None:
    aims = dict.fromkeys(modules_of(recipe), MODULE_AIM) | {pattern_file(recipe): PATTERN_AIM}
    for path, aim in aims.items():
        name = str(path.relative_to(ROOT))
        over = len(path.read_text().splitlines()) > aim
        if name in OVER_AIM:
            assert over, f"{name} fits its aim of {aim} lines now: remove it from OVER_AIM"
        else:
            assert not over, f"{name} is over its aim of {aim} lines: trim it, or add it to OVER_AIM with a reason"


def snippet_chunks(snippet: str) -> list[str]:
    """The snippet split at elision lines (`...`), each chunk dedented."""
    chunks: list[list[str]] = []
    current: list[str] = []
    for line in snippet.splitlines():
        if line.strip() == "...":
            chunks.append(current)
            current = []
        else:
            current.append(line.rstrip())
    chunks.append(current)
    # ruff format puts blank lines around a top-level `...`: they are not part of the code.
    texts = [textwrap.dedent("\n".join(chunk)).strip("\n") for chunk in chunks]
    return [text for text in texts if text]


def holds_in_order(lines: list[str], chunks: list[str]) -> bool:
    position = 0
    for chunk in chunks:
        size = chunk.count("\n") + 1
        starts = range(position, len(lines) - size + 1)
        found = next((i for i in starts if textwrap.dedent("\n".join(lines[i : i + size])) == chunk), None)
        if found is None:
            return False
        position = found + size
    return True


@pytest.mark.parametrize("recipe", RECIPES, ids=ids)
def test_readme_pattern_snippet_is_real_code_from_the_recipe(recipe: Path) -> None:
    match = SNIPPET.search((recipe / "README.md").read_text())
    assert match, "## The pattern needs a fenced ```python block"
    snippet = match.group(1)
    code_lines = [line for line in snippet.splitlines() if line.strip() not in ("", "...")]
    assert len(code_lines) <= SNIPPET_AIM, f"the snippet has more than {SNIPPET_AIM} lines of code"
    chunks = snippet_chunks(snippet)
    sources = {p.name: [line.rstrip() for line in p.read_text().splitlines()] for p in recipe.glob("*.py")}
    assert any(holds_in_order(lines, chunks) for lines in sources.values()), (
        "the README's pattern snippet is not a run of lines of any file in the recipe (`...` may elide lines)"
    )


@pytest.mark.parametrize("recipe", RECIPES, ids=ids)
def test_recipe_imports_its_own_modules_relatively(recipe: Path) -> None:
    names = {module.stem for module in modules_of(recipe)} | {"recipes"}
    for source in recipe.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                absolute = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                absolute = {node.module.split(".")[0]}
            else:
                continue
            assert not absolute & names, f"{source.name}:{node.lineno}: import the recipe's own modules relatively"


@pytest.mark.parametrize("recipe", RECIPES, ids=ids)
def test_recipe_readme_has_the_fixed_shape(recipe: Path) -> None:
    text = (recipe / "README.md").read_text()
    assert text.startswith("# How to "), "the title says the task: '# How to ...'"
    positions = [text.find(section + "\n") for section in README_SECTIONS]
    assert -1 not in positions, (
        f"missing sections: {[s for s, p in zip(README_SECTIONS, positions, strict=True) if p < 0]}"
    )
    assert positions == sorted(positions), f"sections out of order; expected {README_SECTIONS}"
    assert f"pytest recipes/{recipe.name}" in text


@pytest.mark.parametrize("readme", [ROOT / "README.md", *(r / "README.md" for r in RECIPES)], ids=["top", *ids])
def test_line_links_point_at_what_they_name(readme: Path) -> None:
    """A link like [`name`](file.py#L10-L20) must start at the line that holds `name` (or at its
    decorators) and, when `name` is defined there once, span the whole definition: links cannot drift."""
    for text, target, first, last in LINE_LINK.findall(readme.read_text()):
        path = (readme.parent / target).resolve()
        assert path.is_file(), f"{readme}: link to missing file {target}"
        lines = path.read_text().splitlines()
        start, end = int(first), int(last or first)
        assert 1 <= start <= end <= len(lines), f"{readme}: {target}#L{first}-L{last} is outside the file"
        code = re.search(r"`([^`]+)`", text)
        assert code, f"{readme}: link text {text!r} must name what it points at in `backticks`"
        first = start - 1
        if lines[first].lstrip().startswith("@"):  # a link may start at the decorators of what it names
            while first < end - 1 and not lines[first].lstrip().startswith(("def ", "async def ", "class ")):
                first += 1
        assert code.group(1) in lines[first], f"{readme}: line {first + 1} of {target} does not hold {code.group(1)!r}"
        span = definitions(path.read_text()).get(code.group(1))
        if span is not None:  # a definition: the link spans all of it, decorators included
            assert (start, end) == span, f"{readme}: {target}#L{start}-L{end} should be #L{span[0]}-L{span[1]}"


def test_top_readme_indexes_every_recipe() -> None:
    text = (ROOT / "README.md").read_text()
    missing = [recipe.name for recipe in RECIPES if f"(recipes/{recipe.name}/)" not in text]
    assert not missing, f"README.md index lacks: {missing}"


def test_compose_service_matches_what_the_provider_probes() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["postgres"]
    env = service["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == (
        postgres_provider.COMPOSE_USER,
        postgres_provider.COMPOSE_PASSWORD,
        postgres_provider.COMPOSE_DB,
    )
    assert service["ports"] == [f"{postgres_provider.COMPOSE_HOST}:{postgres_provider.COMPOSE_PORT}:5432"]
    assert re.fullmatch(r"postgres:\d+\.\d+[-\w.]*", service["image"]), "pin the image to a minor version"
    assert "pg_isready" in " ".join(service["healthcheck"]["test"])
    assert service["tmpfs"] == ["/var/lib/postgresql/data"]
    for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
        assert setting in service["command"]


def test_ci_example_runs_make_check_against_a_healthy_postgres_service() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "cookbook.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["postgres"]
    job = workflow["jobs"]["check"]
    service = job["services"]["postgres"]

    assert service["image"] == compose["image"], "CI and docker compose should test the same PostgreSQL"
    assert "pg_isready" in service["options"]
    assert "--health-retries" in service["options"]
    user, password, db = (service["env"][key] for key in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"))
    assert job["env"]["DATABASE_URL"] == f"postgresql://{user}:{password}@localhost:5432/{db}"
    assert "5432:5432" in service["ports"]
    assert job["env"]["COOKBOOK_REQUIRE_POSTGRES"] == "1"
    commands = [step.get("run", "") for step in job["steps"]]
    assert "make test" in commands
    assert "make check" in commands
    assert any(step.get("uses", "").startswith("actions/checkout@") for step in job["steps"])


def test_the_snippet_check_accepts_elisions_and_rejects_edited_code() -> None:
    lines = [
        "@pytest.mark.asyncio",
        "async def test_x(client):",
        "    response = await client.get('/')",
        "",
        "    assert response.status == 200",
    ]
    assert holds_in_order(
        lines, snippet_chunks("async def test_x(client):\n    ...\n    assert response.status == 200")
    )
    assert holds_in_order(lines, snippet_chunks("    response = await client.get('/')"))  # dedented
    assert not holds_in_order(lines, snippet_chunks("async def test_x(client):\n    assert response.status == 200"))
    assert not holds_in_order(
        lines, snippet_chunks("    assert response.status == 200\n...\nasync def test_x(client):")
    )
