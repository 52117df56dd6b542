"""Fixtures the provider's own tests share (their modules declare pytester themselves)."""

from pathlib import Path

import pytest

from postgres_provider import provider_key
from tests.postgres_helpers import make_sandbox


@pytest.fixture
def sandbox(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    """A pytester folder set up like a user's project, with the outer run's PostgreSQL settings cleared."""
    return make_sandbox(pytester, monkeypatch, tmp_path)


@pytest.fixture
def admin_dsn(request: pytest.FixtureRequest, postgres_dsn: str) -> str:
    """The DSN of the outer run's server as a user that may create and drop databases and roles."""
    server = request.config.stash[provider_key].resolve()
    assert server is not None
    return server.admin_dsn
