"""A word-by-word translation service that is slow to start and cheap to call.

``start()`` loads the dictionary and starts one worker task; every call to
``translate()`` is queued to that worker and answered on a future that belongs
to the event loop the service was started on. Start it once, share it, and call
it only from that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

MAX_TEXT_LENGTH = 200

Request = tuple[str, asyncio.Future[str]]


@dataclass
class StartCounter:
    """How many times the services handed this counter were started and stopped."""

    starts: int = 0
    stops: int = 0


class ServiceNotRunningError(RuntimeError):
    """The service was called before ``start()`` or after ``stop()``."""


@dataclass
class _Running:
    """What exists only while the service runs: its loop, its request queue and its worker."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Request]
    worker: asyncio.Task[None]


class Translator:
    """Translates text word by word through a single worker task."""

    def __init__(self, dictionary: Mapping[str, str], counter: StartCounter | None = None) -> None:
        if not dictionary:
            raise ValueError("dictionary must not be empty")
        self._dictionary = dict(dictionary)
        self.counter = counter if counter is not None else StartCounter()
        self._running: _Running | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the service runs on; call it only from there."""
        return self._state().loop

    def _state(self) -> _Running:
        if self._running is None:
            raise ServiceNotRunningError("translator is not running: await start() first")
        return self._running

    async def start(self) -> None:
        if self._running is not None:
            raise RuntimeError("translator is already running")
        # The expensive part in a real service (loading a model, warming a cache).
        words = {source.casefold(): target for source, target in self._dictionary.items()}
        queue: asyncio.Queue[Request] = asyncio.Queue()
        worker = asyncio.create_task(self._work(queue, words), name="translator-worker")
        self._running = _Running(asyncio.get_running_loop(), queue, worker)
        self.counter.starts += 1

    async def stop(self) -> None:
        """Stop the worker and fail every request it had not answered yet."""
        running, self._running = self._running, None
        if running is None:
            return
        running.worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running.worker
        while not running.queue.empty():
            _, reply = running.queue.get_nowait()
            if not reply.done():
                reply.set_exception(ServiceNotRunningError("translator stopped before answering"))
        self.counter.stops += 1

    async def translate(self, text: str) -> str:
        if not text.strip() or len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"text must be 1-{MAX_TEXT_LENGTH} characters and not blank, got {text!r}")
        running = self._state()
        # The reply future belongs to the service's loop, like a connection's
        # futures belong to the loop that opened it.
        reply: asyncio.Future[str] = running.loop.create_future()
        running.queue.put_nowait((text, reply))
        return await reply

    async def _work(self, queue: asyncio.Queue[Request], words: Mapping[str, str]) -> None:
        while True:
            text, reply = await queue.get()
            if not reply.done():  # the caller may have given up already
                reply.set_result(" ".join(words.get(word.casefold(), word) for word in text.split()))
