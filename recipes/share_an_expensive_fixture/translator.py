"""A word-by-word translation service that is slow to start and cheap to call.

``start()`` does the expensive work once and starts one worker task; ``translate()``
is answered on a future of the loop the service was started on, as a connection's
futures belong to the loop that opened it. Share it, and await it only from that loop.
"""

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

Request = tuple[str, asyncio.Future[str]]
Running = tuple[asyncio.AbstractEventLoop, asyncio.Queue[Request], asyncio.Task[None]]  # loop, queue, worker


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
        self._dictionary = dict(dictionary)
        self.counter = counter if counter is not None else StartCounter()
        self._running: Running | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the service runs on: the only loop that may await it."""
        return self._state()[0]

    def _state(self) -> Running:
        if self._running is None:
            raise ServiceNotRunningError("translator is not running: await start() first")
        return self._running

    async def start(self) -> None:
        # The expensive part in a real service (loading a model, warming a cache).
        words = {source.casefold(): target for source, target in self._dictionary.items()}
        queue: asyncio.Queue[Request] = asyncio.Queue()
        worker = asyncio.create_task(self._work(queue, words), name="translator-worker")
        self._running = (asyncio.get_running_loop(), queue, worker)
        self.counter.starts += 1

    async def stop(self) -> None:
        """Stop the worker and fail every request it has not answered, so no caller waits forever."""
        running, self._running = self._running, None
        if running is None:
            return
        _, queue, worker = running
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        while not queue.empty():
            _, reply = queue.get_nowait()
            if not reply.done():  # its caller may have given up (been cancelled) already
                reply.set_exception(ServiceNotRunningError("translator stopped before answering"))
        self.counter.stops += 1

    async def translate(self, text: str) -> str:
        loop, queue, _ = self._state()
        reply: asyncio.Future[str] = loop.create_future()  # the service's loop, not necessarily the caller's
        queue.put_nowait((text, reply))
        return await reply

    async def _work(self, queue: asyncio.Queue[Request], words: Mapping[str, str]) -> None:
        while True:
            text, reply = await queue.get()
            if not reply.done():  # the caller may have given up already
                reply.set_result(" ".join(words.get(word.casefold(), word) for word in text.split()))
