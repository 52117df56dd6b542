"""A PostgreSQL job queue: workers claim jobs with FOR UPDATE SKIP LOCKED.

A claim marks the job running under a lease; a worker that crashes loses the
lease when it expires and the job becomes claimable again. ``attempts`` works
as a fencing token: a worker whose lease was taken over cannot complete the job.
A job that keeps failing stops after ``max_attempts`` (a poison job).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
Handler: TypeAlias = Callable[[dict[str, Any]], Awaitable[None]]

TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class LeaseLostError(Exception):
    """The job's lease expired and another worker took it over."""


@dataclass(frozen=True)
class Job:
    id: int
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


class JobQueue:
    """The SQL for one queue table; every method takes the connection to use."""

    def __init__(self, table: str = "jobs") -> None:
        if not TABLE_NAME.fullmatch(table):
            raise ValueError(f"invalid table name {table!r}: use lower-case letters, digits and underscores")
        self.table = table

    async def create(self, conn: Connection) -> None:
        await conn.execute(f"""
            CREATE TABLE IF NOT EXISTS {self.table} (
                id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                payload      jsonb NOT NULL,
                status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
                attempts     integer NOT NULL DEFAULT 0,
                max_attempts integer NOT NULL CHECK (max_attempts > 0),
                last_error   text,
                locked_until timestamptz
            )""")

    async def drop(self, conn: Connection) -> None:
        await conn.execute(f"DROP TABLE IF EXISTS {self.table}")

    async def enqueue(self, conn: Connection, payload: dict[str, Any], *, max_attempts: int = 3) -> int:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        try:
            encoded = json.dumps(payload)
        except TypeError as exc:
            raise ValueError(f"payload is not JSON-serialisable: {exc}") from exc
        job_id: int = await conn.fetchval(
            f"INSERT INTO {self.table} (payload, max_attempts) VALUES ($1::jsonb, $2) RETURNING id",
            encoded,
            max_attempts,
        )
        return job_id

    async def claim(self, conn: Connection, *, lease_seconds: float = 30.0) -> Job | None:
        """Take the oldest claimable job, or None. Never waits for another worker's lock."""
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
        row = await conn.fetchrow(
            f"""
            UPDATE {self.table} SET status = 'running', attempts = attempts + 1,
                   locked_until = now() + make_interval(secs => $1)
            WHERE id = (
                SELECT id FROM {self.table}
                WHERE status = 'queued' OR (status = 'running' AND locked_until < now())
                ORDER BY id
                FOR UPDATE SKIP LOCKED
                LIMIT 1)
            RETURNING id, payload::text, attempts, max_attempts""",
            lease_seconds,
        )
        if row is None:
            return None
        return Job(row["id"], json.loads(row["payload"]), row["attempts"], row["max_attempts"])

    async def complete(self, conn: Connection, job: Job) -> None:
        await self._finish(conn, job, "status = 'done', last_error = NULL")

    async def fail(self, conn: Connection, job: Job, error: str) -> str:
        """Record the failure; requeue the job, or give up after its last attempt. Returns the new status."""
        status = "failed" if job.attempts >= job.max_attempts else "queued"
        await self._finish(conn, job, "status = $3, last_error = $4", status, error)
        return status

    async def _finish(self, conn: Connection, job: Job, assignments: str, *args: object) -> None:
        updated = await conn.fetchval(
            f"""UPDATE {self.table} SET {assignments}, locked_until = NULL
                WHERE id = $1 AND attempts = $2 AND status = 'running' RETURNING id""",
            job.id,
            job.attempts,
            *args,
        )
        if updated is None:
            raise LeaseLostError(f"job {job.id} (attempt {job.attempts}) is no longer held by this worker")

    async def counts(self, conn: Connection) -> dict[str, int]:
        rows = await conn.fetch(f"SELECT status, count(*) AS n FROM {self.table} GROUP BY status")
        return {row["status"]: row["n"] for row in rows}


async def work(queue: JobQueue, conn: Connection, handler: Handler) -> int:
    """Process jobs until none is claimable; a failing job is recorded, not raised. Returns jobs handled."""
    handled = 0
    while (job := await queue.claim(conn)) is not None:
        try:
            await handler(job.payload)
        except Exception as exc:
            await queue.fail(conn, job, f"{type(exc).__name__}: {exc}")
        else:
            await queue.complete(conn, job)
        handled += 1
    return handled
