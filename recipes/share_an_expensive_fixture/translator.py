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


class Translator:
    """Translates text word by word through a single worker task."""

    def __init__(self, dictionary: Mapping[str, str], counter: StartCounter | None = None) -> None:
        if not dictionary:
            raise ValueError("dictionary must not be empty")
        self._dictionary = dict(dictionary)
        self.counter = counter if counter is not None else StartCounter()
        self._words: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Request] | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the service runs on; call it only from there."""
        if self._loop is None:
            raise ServiceNotRunningError("translator is not running: await start() first")
        return self._loop

    async def start(self) -> None:
        if self._worker is not None:
            raise RuntimeError("translator is already running")
        # The expensive part in a real service (loading a model, warming a cache).
        self._words = {source.casefold(): target for source, target in self._dictionary.items()}
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._work(self._queue), name="translator-worker")
        self.counter.starts += 1

    async def stop(self) -> None:
        """Stop the worker and fail every request it had not answered yet."""
        worker, queue, self._worker, self._queue, self._loop = self._worker, self._queue, None, None, None
        if worker is None or queue is None:
            return
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        while not queue.empty():
            _, reply = queue.get_nowait()
            if not reply.done():
                reply.set_exception(ServiceNotRunningError("translator stopped before answering"))
        self.counter.stops += 1

    async def translate(self, text: str) -> str:
        if not text.strip() or len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"text must be 1-{MAX_TEXT_LENGTH} characters and not blank, got {text!r}")
        if self._queue is None:
            raise ServiceNotRunningError("translator is not running: await start() first")
        # The reply future belongs to the service's loop, like a connection's
        # futures belong to the loop that opened it.
        reply: asyncio.Future[str] = self.loop.create_future()
        self._queue.put_nowait((text, reply))
        return await reply

    async def _work(self, queue: asyncio.Queue[Request]) -> None:
        while True:
            text, reply = await queue.get()
            if not reply.done():  # the caller may have given up already
                reply.set_result(" ".join(self._words.get(word.casefold(), word) for word in text.split()))
