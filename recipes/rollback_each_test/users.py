"""A users repository over one asyncpg connection.

It never commits on a connection of its own: it uses the one it is given, so a
test can wrap everything it does in a transaction and roll it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

BIGINT = range(-(2**63), 2**63)  # the ids a bigint holds; past them asyncpg raises DataError (OverflowError)
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name  text NOT NULL
)
"""


class DuplicateEmailError(Exception):
    """Another user already has this email address."""


class UserNotFoundError(LookupError):
    """No user has this id."""


class UnstorableTextError(ValueError):
    """The email or name holds a character PostgreSQL text cannot store: a NUL byte, a lone surrogate."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str


class UserRepository:
    """Reads and writes users; each method is one statement or one transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def create_schema(self) -> None:
        await self._conn.execute(SCHEMA)

    async def add(self, email: str, name: str) -> User:
        try:
            # Inside the caller's transaction this is a savepoint: a duplicate
            # undoes this insert only, and the caller's transaction stays usable.
            async with self._conn.transaction():
                row = await self._conn.fetchrow(
                    "INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id, email, name", email, name
                )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateEmailError(f"a user with email {email!r} already exists") from exc
        except asyncpg.DataError as exc:  # "\x00": CharacterNotInRepertoireError; "\ud800": cannot be encoded
            raise UnstorableTextError("an email or name holds a NUL byte or a lone surrogate") from exc
        assert row is not None  # INSERT ... RETURNING always returns the row
        return User(**row)

    async def add_many(self, people: Iterable[tuple[str, str]]) -> list[User]:
        """Add all of them or none: one duplicate undoes the whole batch."""
        async with self._conn.transaction():
            return [await self.add(email, name) for email, name in people]

    async def get(self, user_id: int) -> User:
        query = "SELECT id, email, name FROM users WHERE id = $1"
        if user_id not in BIGINT or (row := await self._conn.fetchrow(query, user_id)) is None:
            raise UserNotFoundError(f"no user with id {user_id}")
        return User(**row)

    async def list(self) -> list[User]:
        rows = await self._conn.fetch("SELECT id, email, name FROM users ORDER BY id")
        return [User(**row) for row in rows]
