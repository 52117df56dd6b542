"""Sign-up and log-in for a small service, with welcome e-mails sent in the background.

``hash_password`` is CPU-bound: hundreds of milliseconds with production settings.
``SignUp.sign_up`` runs it in a worker thread, as async code should; ``SignUp.log_in``
still calls it inline and blocks the event loop while it hashes, the mistake that
asyncio's debug mode reports. ``BackgroundTasks`` owns every task it starts and
``aclose`` finishes them, so nothing is left pending when the service stops.
"""

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
        self.tasks: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(work, name=name)  # named: a leak report then says what it is
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # an error nobody awaits: log it
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def aclose(self, *, grace: float) -> None:
        """Give running tasks ``grace`` seconds to finish, then cancel the rest and wait for them."""
        if not self.tasks:
            return
        _, late = await asyncio.wait(set(self.tasks), timeout=grace)
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
        salt = os.urandom(16)
        digest = await asyncio.to_thread(hash_password, password, salt, self._iterations)
        self._users[email] = (salt, digest)
        self._background.spawn(self._send_email(email, "Welcome aboard!"), name=f"welcome-email:{email}")

    async def log_in(self, email: str, password: str) -> bool:
        salt, digest = self._users.get(email, (b"", b""))
        attempt = hash_password(password, salt, self._iterations)  # blocks the event loop
        return hmac.compare_digest(attempt, digest)  # an unknown user's empty digest never matches
