"""What a recipe needs installed, derived from its code (tools/common.py): what `make copy` prints."""

from pathlib import Path

from tools.common import Recipe, with_extras


def test_plugins_a_sandbox_loads_with_p_are_needs_and_blocked_ones_are_not(tmp_path: Path) -> None:
    recipe = tmp_path / "a_recipe"
    recipe.mkdir()
    (recipe / "__init__.py").write_text("")
    (recipe / "test_pitfalls.py").write_text(
        'FAST = "--disable-plugin-autoload -p pytest_asyncio.plugin -p pytest_aiohttp.plugin".split()\n'
        'ARGS = ["-p", "xdist", "-p", "no:randomly", "-p", "hypothesispytest"]  # an entry-point name: no module\n'
    )

    assert Recipe(recipe).needs == ("pytest", "pytest-aiohttp", "pytest-asyncio", "pytest-xdist")


def test_a_venv_gets_the_extras_pyproject_asks_for() -> None:
    # SQLAlchemy's asyncio support needs greenlet, which only its [asyncio] extra installs.
    assert with_extras("sqlalchemy") == "sqlalchemy[asyncio]"
    assert with_extras("asyncpg") == "asyncpg"
    assert with_extras("pytest-asyncio==0.23.8") == "pytest-asyncio==0.23.8"  # a pinned column of make compat
