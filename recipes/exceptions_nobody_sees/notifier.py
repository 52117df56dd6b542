"""Send each event to every subscriber's webhook in the background, without losing a failure.

``publish`` starts one delivery task per subscriber and returns at once. The notifier keeps
each task until it ends (the event loop holds only a weak reference), and a done callback
takes the task's error, so asyncio never has to report it as "Task exception was never
retrieved". ``drain`` waits for the deliveries in flight and raises what failed as one
``ExceptionGroup``; leaving ``async with`` drains. Unlike an ``asyncio.TaskGroup``, one
failed webhook does not cancel the others, and an error raised in the ``async with`` body
reaches the caller as itself: the deliveries are cancelled and their failures become its notes.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

Event = Mapping[str, Any]
Post = Callable[[str, Event], Coroutine[Any, Any, None]]


class DeliveryError(Exception):
    """One webhook not delivered; what went wrong is its ``__cause__``."""

    def __init__(self, url: str, event: Event, cause: BaseException) -> None:
        super().__init__(f"{event['type']} not delivered to {url}")
        self.__cause__ = cause


class WebhookNotifier:
    """Delivers events to ``subscribers`` with ``post(url, event)``, each in a task of its own."""

    def __init__(self, post: Post, subscribers: Sequence[str]) -> None:
        self._post = post
        self.subscribers = list(subscribers)
        self.in_flight: set[asyncio.Task[None]] = set()  # strong references until each delivery ends
        self._failed: list[DeliveryError] = []

    def publish(self, event: Event) -> None:
        """Start delivering ``event`` to every subscriber and return without waiting."""
        for url in self.subscribers:
            task = asyncio.create_task(self._post(url, event), name=f"webhook {event['type']} -> {url}")
            self.in_flight.add(task)
            task.add_done_callback(functools.partial(self._finished, url, event))

    def _finished(self, url: str, event: Event, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        if task.cancelled():
            return
        error = task.exception()  # retrieved: the loop has nothing left to report
        if error is not None:
            self._failed.append(DeliveryError(url, event, error))

    async def drain(self) -> None:
        """Wait for the deliveries in flight, then raise every failure since the last drain."""
        if self.in_flight:
            await asyncio.wait(self.in_flight)
        failed, self._failed = self._failed, []
        if failed:
            raise ExceptionGroup(f"{len(failed)} webhook deliveries failed", failed)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:  # the body failed: stop the deliveries instead of waiting for them
            for task in self.in_flight:
                task.cancel()
        try:
            await self.drain()
        except ExceptionGroup as group:
            if exc is None:
                raise
            for failure in group.exceptions:  # raising the group would hide the body's error from the caller
                exc.add_note(f"also: {failure}: {failure.__cause__!r}")
