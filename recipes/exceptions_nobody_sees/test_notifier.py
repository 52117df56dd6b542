"""Errors in background work fail the test that caused them; the notifier's own errors surface from drain.

conftest.py's autouse ``loop_errors`` fixture fails any test here whose loop reported an error
nobody handled: the tests that cause one on purpose check it and empty the list.
"""

import asyncio
import gc
import re
from typing import Any

import pytest

from .notifier import DeliveryError, Event, WebhookNotifier

URLS = ["http://billing.test/hook", "http://crm.test/hook", "http://audit.test/hook"]
PAID = {"type": "order.paid", "order": 7}
WAIT = 2  # seconds; only reached when something is broken


class Webhooks:
    """Fake subscriber endpoints: a POST to a URL in ``down`` is refused at once, the others wait for ``answer``."""

    def __init__(self, *, down: tuple[str, ...] = ()) -> None:
        self.down = down
        self.answer = asyncio.Event()
        self.received: list[tuple[str, Event]] = []

    async def post(self, url: str, event: Event) -> None:
        if url in self.down:
            raise ConnectionError(f"POST {url}: connection refused")
        await self.answer.wait()
        self.received.append((url, event))


@pytest.mark.asyncio
async def test_a_task_nobody_awaits_fails_the_test_through_the_loop_handler(loop_errors: list[dict[str, Any]]) -> None:
    webhooks = Webhooks(down=("http://billing.test/hook",))

    # The bug: a task nobody keeps, awaits or reads the error of.
    asyncio.create_task(webhooks.post("http://billing.test/hook", PAID))  # noqa: RUF006
    await asyncio.sleep(0)  # one loop turn: the task fails, is freed, and asyncio reports it

    [context] = loop_errors
    assert context["message"] == "Task exception was never retrieved"
    assert repr(context["exception"]) == "ConnectionError('POST http://billing.test/hook: connection refused')"
    loop_errors.clear()  # expected here; left in the list, it would fail this test at teardown


@pytest.mark.asyncio
async def test_a_callback_that_raises_is_caught_too(loop_errors: list[dict[str, Any]]) -> None:
    def on_delivered(url: str) -> None:
        raise KeyError(url)

    asyncio.get_running_loop().call_soon(on_delivered, "http://crm.test/hook")
    await asyncio.sleep(0)

    [context] = loop_errors
    # asyncio names the call ("...on_delivered('http://crm.test/hook') at file:line"; 3.13 leaves out
    # the arguments), uvloop the function ("<function ...on_delivered at 0x...>").
    assert re.match(r"Exception in callback (<function )?\S*\.on_delivered\b", context["message"])
    assert repr(context["exception"]) == "KeyError('http://crm.test/hook')"
    loop_errors.clear()


@pytest.mark.asyncio
async def test_publish_returns_at_once_and_drain_waits_for_every_delivery() -> None:
    webhooks = Webhooks()
    notifier = WebhookNotifier(webhooks.post, URLS)

    notifier.publish(PAID)
    assert webhooks.received == []  # publish did not wait for anyone
    assert sorted(task.get_name() for task in notifier.in_flight) == [
        f"webhook order.paid -> {url}" for url in sorted(URLS)
    ]

    webhooks.answer.set()
    async with asyncio.timeout(WAIT):
        await notifier.drain()

    assert sorted(webhooks.received) == sorted((url, PAID) for url in URLS)
    assert notifier.in_flight == set()


@pytest.mark.asyncio
async def test_a_failed_webhook_surfaces_from_drain_and_the_others_still_go_out() -> None:
    webhooks = Webhooks(down=("http://crm.test/hook",))
    webhooks.answer.set()
    notifier = WebhookNotifier(webhooks.post, URLS)
    notifier.publish(PAID)

    with pytest.RaisesGroup(
        pytest.RaisesExc(DeliveryError, match=r"^order\.paid not delivered to http://crm\.test/hook$"),
        match=r"^1 webhook deliveries failed$",
    ) as group:
        await notifier.drain()

    [failure] = group.value.exceptions
    assert repr(failure.__cause__) == "ConnectionError('POST http://crm.test/hook: connection refused')"
    assert sorted(url for url, _ in webhooks.received) == ["http://audit.test/hook", "http://billing.test/hook"]
    await notifier.drain()  # each failure is raised once


@pytest.mark.asyncio
async def test_a_task_in_a_reference_cycle_reports_only_when_collected(loop_errors: list[dict[str, Any]]) -> None:
    class Sender:
        def __init__(self) -> None:
            self.task = asyncio.create_task(self.send())

        async def send(self) -> None:  # its traceback keeps `self`, which keeps the task: a cycle
            raise ConnectionError("POST http://audit.test/hook: connection refused")

    gc.disable()  # keep the automatic collection from coming early, during this test
    try:
        Sender()
        await asyncio.sleep(0)
        assert loop_errors == []  # failed, dropped, and still not reported
        gc.collect()  # what loop_errors does at teardown
    finally:
        gc.enable()

    assert [context["message"] for context in loop_errors] == ["Task exception was never retrieved"]
    loop_errors.clear()


@pytest.mark.asyncio
async def test_leaving_async_with_drains_and_raises_what_failed() -> None:
    webhooks = Webhooks(down=("http://billing.test/hook", "http://audit.test/hook"))
    webhooks.answer.set()

    with pytest.RaisesGroup(DeliveryError, DeliveryError, match=r"^2 webhook deliveries failed$"):
        async with asyncio.timeout(WAIT), WebhookNotifier(webhooks.post, URLS) as notifier:
            notifier.publish(PAID)

    assert webhooks.received == [("http://crm.test/hook", PAID)]


@pytest.mark.asyncio
async def test_an_error_in_the_body_cancels_the_deliveries_and_reaches_the_caller_as_itself() -> None:
    webhooks = Webhooks(down=("http://billing.test/hook",))  # refuses at once; the others never answer
    with pytest.raises(ZeroDivisionError) as raised:  # the body's error, not the deliveries' group
        async with asyncio.timeout(WAIT), WebhookNotifier(webhooks.post, URLS) as notifier:
            notifier.publish(PAID)
            started = set(notifier.in_flight)
            await asyncio.sleep(0)  # one loop turn: billing's delivery fails before the body does
            _ = 1 / 0

    assert sorted(task.cancelled() for task in started) == [False, True, True]  # cancelled is not failed
    [note] = raised.value.__notes__  # billing's failure rides on the body's error, shown in its traceback
    assert note == f"also: order.paid not delivered to {URLS[0]}: ConnectionError('POST {URLS[0]}: connection refused')"
