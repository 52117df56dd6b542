"""One database per pytest-xdist worker, cloned from a template that holds the schema.

The schema is built once, in a template database; each worker then gets a copy
with ``CREATE DATABASE ... TEMPLATE``, which is much faster than running the
DDL again. Workers are separate processes, so a PostgreSQL advisory lock makes
them take turns: the first builds the template, the last one out drops it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import asyncpg

LOCK_KEY = 48_151_623  # any constant: all workers of all runs serialise on it
NAME_PATTERN = re.compile(r"[a-z0-9_]{1,40}")


class WorkerDatabases:
    """Template and per-worker databases for one test run, on the server of ``admin_dsn``."""

    def __init__(self, admin_dsn: str, run_id: str, schema_sql: str) -> None:
        if not NAME_PATTERN.fullmatch(run_id):
            raise ValueError(f"invalid run id {run_id!r}: use lower-case letters, digits and underscores")
        self.admin_dsn = admin_dsn
        self.prefix = f"par_{run_id}"
        self.template = f"{self.prefix}_template"
        self.schema_sql = schema_sql

    def name_for(self, worker: str) -> str:
        if not NAME_PATTERN.fullmatch(worker):
            raise ValueError(f"invalid worker id {worker!r}")
        return f"{self.prefix}_{worker}"

    def dsn_for(self, worker: str) -> str:
        return urlunsplit(urlsplit(self.admin_dsn)._replace(path="/" + self.name_for(worker)))

    async def create(self, worker: str) -> str:
        """Build the template if no worker has yet, clone it for ``worker``, return the clone's DSN."""
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            await admin.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
            try:
                if not await self._exists(admin, self.template):
                    await admin.execute(f'CREATE DATABASE "{self.template}"')
                    builder = await asyncpg.connect(self.dsn_for("template"))
                    try:
                        await builder.execute(self.schema_sql)
                    finally:
                        await builder.close()  # a template must have no connections when cloned
                await admin.execute(f'CREATE DATABASE "{self.name_for(worker)}" TEMPLATE "{self.template}"')
            finally:
                await admin.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        finally:
            await admin.close()
        return self.dsn_for(worker)

    async def drop(self, worker: str) -> None:
        """Drop ``worker``'s database, and the template too when no other worker's is left."""
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            await admin.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.name_for(worker)}" WITH (FORCE)')
                others = await admin.fetchval(
                    "SELECT count(*) FROM pg_database WHERE datname LIKE $1 AND datname <> $2",
                    self.prefix + "\\_%",
                    self.template,
                )
                if others == 0:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            finally:
                await admin.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        finally:
            await admin.close()

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

    @staticmethod
    async def _exists(conn: asyncpg.Connection, name: str) -> bool:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
