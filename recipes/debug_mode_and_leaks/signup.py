"""Sign-up and log-in for a small service, with welcome e-mails sent in the background.

``hash_password`` is CPU-bound: a few hundred milliseconds with production
settings. ``SignUp.sign_up`` runs it in a worker thread, as async code should.
``SignUp.log_in`` still calls it inline, blocking the event loop while it
hashes: that is the mistake asyncio's debug mode reports, and the tests show how.

``BackgroundTasks`` keeps a reference to every task it starts (a task nobody
references can be garbage-collected mid-flight) and ``aclose`` finishes them,
so nothing is left pending when the service stops.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)
PRODUCTION_ITERATIONS = 600_000


def hash_password(password: str, salt: bytes, iterations: int) -> bytes:
    """PBKDF2-SHA256 of ``password``: slow on purpose, and it blocks the calling thread."""
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)


class BackgroundTasks:
    """Fire-and-forget work that is still owned: ``spawn`` it, ``aclose`` it."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        if self._closed:
            work.close()  # never started, so never awaited: close it to avoid a RuntimeWarning
            raise RuntimeError(f"cannot start {name!r}: background tasks are closed")
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def aclose(self, *, grace: float) -> None:
        """Refuse new work, give running tasks ``grace`` seconds to finish, then cancel the rest.

        How long a shutdown may take is the caller's decision, so there is no default.
        """
        self._closed = True
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)


class SignUp:
    """Stores password hashes in memory and welcomes each new user by e-mail."""

    def __init__(
        self,
        send_email: Callable[[str, str], Coroutine[Any, Any, None]],
        background: BackgroundTasks,
        *,
        iterations: int = PRODUCTION_ITERATIONS,
    ) -> None:
        self._send_email = send_email
        self._background = background
        self._iterations = iterations
        self._users: dict[str, tuple[bytes, bytes]] = {}

    async def sign_up(self, email: str, password: str) -> None:
        if "@" not in email.strip("@"):
            raise ValueError(f"not an e-mail address: {email!r}")
        if len(password) < 8:
            raise ValueError("password must be at least 8 characters")
        if email in self._users:
            raise ValueError(f"{email} is already signed up")
        salt = os.urandom(16)
        digest = await asyncio.to_thread(hash_password, password, salt, self._iterations)
        self._users[email] = (salt, digest)
        self._background.spawn(self._send_email(email, "Welcome aboard!"), name=f"welcome-email:{email}")

    async def log_in(self, email: str, password: str) -> bool:
        salt, digest = self._users.get(email, (b"", b""))
        attempt = hash_password(password, salt, self._iterations)  # blocks the event loop
        return hmac.compare_digest(attempt, digest)  # an unknown user's empty digest never matches
