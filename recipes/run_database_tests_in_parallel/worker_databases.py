"""One database per pytest-xdist worker, cloned from a template that holds the schema.

The schema is built once, in a template database; each worker then gets a copy
with ``CREATE DATABASE ... TEMPLATE``, much faster than running the DDL again.
Workers are separate processes, so a PostgreSQL advisory lock makes them take
turns: the first one in builds the template, the last one out drops it.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

LOCK_KEY = 48_151_623  # any constant: all workers of all runs take turns on it


class WorkerDatabases:
    """Template and per-worker databases for one test run, on the server of ``admin_dsn``."""

    def __init__(self, admin_dsn: str, run_id: str, schema_sql: str) -> None:
        self.admin_dsn = admin_dsn
        self.prefix = f"par_{run_id}"
        self.template = self.name_for("template")
        self.schema_sql = schema_sql

    def name_for(self, worker: str) -> str:
        return f"{self.prefix}_{worker}"

    def dsn_for(self, worker: str) -> str:
        return urlunsplit(urlsplit(self.admin_dsn)._replace(path="/" + self.name_for(worker)))

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[asyncpg.Connection]:
        """An admin connection holding the lock. Always on the admin database: advisory locks are per database."""
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            await admin.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
            yield admin
        finally:
            await admin.close()  # ending the session releases its advisory lock

    async def create(self, worker: str) -> str:
        """Build the template if no worker has yet, clone it for ``worker``, return the clone's DSN."""
        async with self._turn() as admin:
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", self.template):
                await admin.execute(f'CREATE DATABASE "{self.template}"')
                builder = await asyncpg.connect(self.dsn_for("template"))
                try:
                    await builder.execute(self.schema_sql)
                finally:
                    await builder.close()  # a template must have no connections when cloned
            await admin.execute(f'CREATE DATABASE "{self.name_for(worker)}" TEMPLATE "{self.template}"')
        return self.dsn_for(worker)

    async def drop(self, worker: str) -> None:
        """Drop ``worker``'s database, and the template too when no other worker's is left."""
        async with self._turn() as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.name_for(worker)}" WITH (FORCE)')
            left = await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname LIKE $1", self.prefix + "\\_%")
            if left == 1:  # only the template: this worker is the last one out
                await admin.execute(f'DROP DATABASE "{self.template}" WITH (FORCE)')

    async def existing(self) -> list[str]:
        """This run's databases that exist right now, template included."""
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            rows = await admin.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname", self.prefix + "\\_%"
            )
            return [row["datname"] for row in rows]
        finally:
            await admin.close()
