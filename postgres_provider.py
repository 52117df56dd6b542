"""pytest plugin: a real PostgreSQL for the database tests, with zero set-up.

Copy this file and ``postgres_cluster.py`` (which does the work, without pytest) into a
folder on pytest's ``pythonpath`` setting, add ``pytest_plugins = ["postgres_provider"]``
to your top-level ``conftest.py``, and request ``postgres_dsn``; ``make copy`` prints both
lines for your project's layout, and ``docs/postgres_dsn.md`` shows the other ways to
provide the fixture. The server is found in this order:

1. ``DATABASE_URL``, if set (CI services, your own server);
2. the ``docker compose`` service of ``docker-compose.yml``, if it answers;
3. a throwaway cluster started from local server binaries (``initdb``, ``postgres``);
4. otherwise the database tests skip with one message naming the three fixes,
   except under CI (``CI`` set) or ``COOKBOOK_REQUIRE_POSTGRES=1``, where they fail.

What is guaranteed:

- Tests never touch existing data: each pytest process (each xdist worker) gets a
  database of its own, ``cookbook_test_<12 hex>_<worker>``, created from template0 (a
  session open on template1 cannot block it) and dropped at the end.
- A run killed before it could drop its database (SIGKILL, a third Ctrl-C) leaves it
  behind until the next run against that server, which drops every such database (and
  every ``cookbook_role_<12 hex>`` role the cookbook's tests create) that nobody is
  connected to and no live run holds: a live run holds an idle connection named after
  its database. Nothing else on the server is ever dropped.
- A throwaway cluster is stopped and removed however the run ends, an interrupt during
  its start included; a SIGKILLed run's cluster is removed by the next run.
- A server that cannot serve the tests is described once, in the ``postgres:`` line at
  the top of the run: the cause, host and port, and the fix. Each database test then
  fails (DATABASE_URL set, CI, ``COOKBOOK_REQUIRE_POSTGRES=1``) or skips with one line
  pointing at it. A run that selects no database test never fails because of the server
  (without xdist it does not even look for one).
- Interrupts end the run after cleanup: Ctrl-C with pytest's exit status 2; SIGTERM by
  SIGTERM (status 143, -15 for the parent), even when it lands in a ``__del__``, weakref
  or GC callback, where Python would print "Exception ignored" and carry on.

Process-wide changes, while the plugin is configured: where SIGTERM has its default
action, a handler makes it take Ctrl-C's path and ends the process by SIGTERM at exit;
``sys.unraisablehook`` is wrapped to deliver a swallowed KeyboardInterrupt again (other
unraisable exceptions pass through untouched).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from postgres_cluster import (
    COMPOSE_DB,
    COMPOSE_DSN,
    COMPOSE_HOST,
    COMPOSE_PASSWORD,
    COMPOSE_PORT,
    COMPOSE_USER,
    UNAVAILABLE,
    Provider,
    RunDatabase,
    Server,
    ThrowawayCluster,
    Unusable,
    find_server_bindir,
    install_sigterm_bridge,
    query_once,
    required_by,
    unavailable,
    uninstall_sigterm_bridge,
    with_database,
)

# Names code outside the plugin imported from here before the split; they live in postgres_cluster.
__all__ = [
    "COMPOSE_DB", "COMPOSE_DSN", "COMPOSE_HOST", "COMPOSE_PASSWORD", "COMPOSE_PORT", "COMPOSE_USER", "UNAVAILABLE",
    "Provider", "Server", "ThrowawayCluster", "find_server_bindir", "postgres_admin_dsn", "postgres_dsn",
    "provider_key", "query_once", "summary_line", "with_database",
]  # fmt: skip

SEE_HEADER = "see the `postgres:` line at the top of the run"
HANDOFF_KEY = "cookbook_postgres"  # in a pytest-xdist worker's workerinput

provider_key = pytest.StashKey[Provider]()
_sigterm_key = pytest.StashKey[bool]()


class _SwallowedInterrupts:
    """Wraps sys.unraisablehook: a KeyboardInterrupt that a finaliser swallowed is delivered again."""

    pending = False  # for the process: set until the run ends as interrupted

    def __init__(self) -> None:
        self.previous: Callable[[Any], object] = sys.unraisablehook

    def __call__(self, unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _SwallowedInterrupts.pending = True  # the hooks below raise it if this delivery is swallowed too
            if callable(signal.getsignal(signal.SIGINT)):
                threading.Thread(target=_interrupt_main_soon, daemon=True).start()
            return
        self.previous(unraisable)


def _interrupt_main_soon() -> None:
    # A real signal (it wakes a blocked call), sent from another thread a moment later: sent at
    # once, it would land in the finaliser again. Landing in another one only repeats this.
    time.sleep(0.01)
    main = threading.main_thread().ident
    if main is not None:
        signal.pthread_kill(main, signal.SIGINT)


_swallowed_key = pytest.StashKey[_SwallowedInterrupts]()


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and getattr(config.option, "dist", "no") != "no"


class _XdistHandoff:
    """Registered only where pytest-xdist is: one server for all workers, found by the controller."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[HANDOFF_KEY] = self.provider.handoff()


@pytest.hookimpl(trylast=True)  # after pytest's own unraisablehook, which this one wraps
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", 'postgres: uses postgres_dsn; pytest -m "not postgres" runs the rest, no server')
    has_compose = (config.rootpath / "docker-compose.yml").is_file()
    provider = config.stash[provider_key] = Provider(unavailable(with_compose=has_compose))
    if handed := getattr(config, "workerinput", {}).get(HANDOFF_KEY):
        provider.adopt(handed)
    elif _is_xdist_controller(config):
        config.pluginmanager.register(_XdistHandoff(provider), "cookbook-postgres-handoff")
    config.stash[_sigterm_key] = install_sigterm_bridge()
    watch = config.stash[_swallowed_key] = _SwallowedInterrupts()
    sys.unraisablehook = watch


def pytest_unconfigure(config: pytest.Config) -> None:
    provider = config.stash.get(provider_key, None)
    if provider is not None:
        provider.close()
    watch = config.stash.get(_swallowed_key, None)
    if watch is not None and sys.unraisablehook is watch:
        sys.unraisablehook = watch.previous
    if config.stash.get(_sigterm_key, False):
        uninstall_sigterm_bridge()


def pytest_report_header(config: pytest.Config) -> str | None:
    if _is_xdist_controller(config):
        return config.stash[provider_key].describe()
    return None


def summary_line(config: pytest.Config) -> str | None:
    """The short `postgres:` line for an end-of-run summary, once a server was looked for."""
    provider = config.stash.get(provider_key, None)
    return provider.describe(short=True) if provider is not None and provider.resolved else None


def _needs_postgres(item: pytest.Item) -> bool:
    return "postgres_dsn" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)  # before -m deselects: `-m "not postgres"` must see the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _needs_postgres(item):
            item.add_marker(pytest.mark.postgres)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # After deselection: look for a server only when a selected test needs one. With none to
    # be had, mark those tests skipped, so that -ra folds them into one line per file.
    config, items = session.config, session.items
    needing = [item for item in items if _needs_postgres(item)]
    provider = config.stash[provider_key]
    skipping = needing and provider.resolve() is None and not (provider.fatal or required_by())
    if skipping:  # the full message once, here; a short reason on each skip
        for item in needing:
            item.add_marker(pytest.mark.skip(reason=f"{provider.short}: {SEE_HEADER}"))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and needing and not hasattr(config, "workerinput"):
        reporter.write_line(provider.describe())


# An interrupt swallowed by a finaliser and not delivered again ends the run at the next phase.
def _raise_swallowed(item: pytest.Item) -> None:
    if _SwallowedInterrupts.pending and _swallowed_key in item.config.stash:
        raise KeyboardInterrupt("an interrupt that a finaliser swallowed")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _raise_swallowed(item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    _raise_swallowed(item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    _raise_swallowed(item)


def pytest_keyboard_interrupt() -> None:
    _SwallowedInterrupts.pending = False  # it got through


def _one_line(provider: Provider) -> str:
    required = "" if provider.fatal or not required_by() else f" (required: {required_by()})"
    return f"{provider.short}{required}: {SEE_HEADER}"


@pytest.fixture(scope="session")
def postgres_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    """DSN of a database created for this run (one per xdist worker), dropped at the end."""
    provider = request.config.stash[provider_key]
    server = provider.resolve()
    if server is None:
        if provider.fatal or required_by():  # DATABASE_URL was asked for by name, or CI: no skip
            pytest.fail(_one_line(provider), pytrace=False)
        pytest.skip(_one_line(provider))
    try:
        database = RunDatabase(server.admin_dsn, os.environ.get("PYTEST_XDIST_WORKER", "main"))
    except Unusable as exc:
        pytest.fail(f"{exc} ({server.label})", pytrace=False)
    try:
        yield database.dsn
    finally:
        try:
            database.drop()
        except Unusable as exc:
            pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def postgres_admin_dsn(request: pytest.FixtureRequest, postgres_dsn: str) -> str:
    """DSN of the server's own database, the same for every xdist worker.

    For recipes that create databases of their own or coordinate workers with
    advisory locks (which are per database). Never write test data here.
    """
    server = request.config.stash[provider_key].resolve()
    assert server is not None  # postgres_dsn has skipped or failed otherwise
    return server.admin_dsn
