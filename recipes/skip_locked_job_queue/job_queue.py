"""A PostgreSQL job queue: workers claim jobs with FOR UPDATE SKIP LOCKED, under a lease.

A crashed worker's job is claimed again once its lease expires; ``attempts`` fences off
the worker that lost it; a job that keeps failing stops after ``max_attempts``.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy | asyncpg.Pool  # a pool runs one statement


class LeaseLostError(Exception):
    """The job's lease expired and another worker took it over."""


@dataclass(frozen=True)
class Job:
    id: int
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


class JobQueue:
    """The SQL for one queue table; every method takes the connection (or pool) to use."""

    def __init__(self, table: str) -> None:
        self.table = table  # an identifier from the code, never from users: it goes into the SQL

    async def create(self, conn: Connection) -> None:
        await conn.execute(f"""CREATE TABLE {self.table} (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL,
            status text NOT NULL DEFAULT 'queued', attempts integer NOT NULL DEFAULT 0,
            max_attempts integer NOT NULL, last_error text, locked_until timestamptz)""")

    async def enqueue(self, conn: Connection, payload: dict[str, Any], *, max_attempts: int = 3) -> int:
        sql = f"INSERT INTO {self.table} (payload, max_attempts) VALUES ($1::jsonb, $2) RETURNING id"
        job_id: int = await conn.fetchval(sql, json.dumps(payload), max_attempts)
        return job_id

    async def claim(self, conn: Connection, *, lease_seconds: float = 30.0) -> Job | None:
        """Take the oldest claimable job, or None. Never waits for another worker's lock."""
        sql = f"""UPDATE {self.table} SET status = 'running', attempts = attempts + 1,
                      locked_until = now() + make_interval(secs => $1)
                  WHERE id = (SELECT id FROM {self.table}
                              WHERE status = 'queued' OR (status = 'running' AND locked_until < now())
                              ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
                  RETURNING id, payload::text, attempts, max_attempts"""
        row = await conn.fetchrow(sql, lease_seconds)
        return None if row is None else Job(row["id"], json.loads(row["payload"]), row["attempts"], row["max_attempts"])

    async def finish(self, conn: Connection, job: Job, error: str | None = None) -> str:
        """Mark the job done, or record its error: queued again, or failed after its last attempt."""
        status = "done" if error is None else "failed" if job.attempts >= job.max_attempts else "queued"
        sql = f"""UPDATE {self.table} SET status = $3, last_error = $4, locked_until = NULL
                  WHERE id = $1 AND attempts = $2 AND status = 'running' RETURNING id"""
        updated = await conn.fetchval(sql, job.id, job.attempts, status, error)
        if updated is None:
            raise LeaseLostError(f"job {job.id} (attempt {job.attempts}) is no longer held by this worker")
        return status


async def work(queue: JobQueue, conn: Connection, handler: Callable[[dict[str, Any]], Awaitable[None]]) -> int:
    """Process jobs until none is claimable; a failing job is recorded, not raised. Returns jobs handled."""
    handled = 0
    while (job := await queue.claim(conn)) is not None:
        try:
            await handler(job.payload)
        except Exception as exc:
            await queue.finish(conn, job, f"{type(exc).__name__}: {exc}")
        else:
            await queue.finish(conn, job)
        handled += 1
    return handled
