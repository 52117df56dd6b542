"""Weak checks of a gather batch that pass for broken code, and gather's habit of returning cancellations."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest


class NotFound(Exception):
    """The error a fetch is meant to raise for a missing item."""


async def fetch_all_in_completion_order(ids: list[str], fetch_one: Callable[[str], Awaitable[str]]) -> list[str]:
    """The bug under test: results collected as they finish, not in the order of the ids."""
    return [await done for done in asyncio.as_completed([fetch_one(item_id) for item_id in ids])]


@pytest.mark.asyncio
async def test_a_length_check_passes_for_results_in_the_wrong_order() -> None:
    async def fetch(item_id: str) -> str:
        for _ in range({"a": 3, "b": 2, "c": 1}[item_id]):  # c finishes first, a last
            await asyncio.sleep(0)
        return item_id

    results = await fetch_all_in_completion_order(["a", "b", "c"], fetch)

    assert len(results) == 3  # the weak check passes
    with pytest.raises(AssertionError, match=r"^assert \['c', 'b', 'a'\] == \['a', 'b', 'c'\]\n"):
        assert results == ["a", "b", "c"]  # comparing the whole list catches it


@pytest.mark.asyncio
async def test_an_isinstance_exception_check_passes_for_a_bug() -> None:
    async def fetch(item_id: str) -> object:
        if item_id == "b":
            return item_id.uper()  # type: ignore[attr-defined]  # a typo, not the NotFound meant
        return item_id

    results = await asyncio.gather(fetch("a"), fetch("b"), return_exceptions=True)

    assert isinstance(results[1], Exception)  # the weak check passes: a bug is an Exception too
    expected = (
        r"^assert <class 'AttributeError'> is NotFound\n"
        r" \+  where <class 'AttributeError'> = type\(AttributeError\(\"'str' object has no attribute 'uper'\"\)\)"
    )
    with pytest.raises(AssertionError, match=expected):
        assert type(results[1]) is NotFound  # the exact check fails and names the real error


@pytest.mark.asyncio
async def test_return_exceptions_hands_back_a_cancellation_as_a_list_item() -> None:
    async def answer() -> str:
        return "item-a"

    hung = asyncio.create_task(asyncio.Event().wait())
    hung.cancel()  # someone cancels one child, not the batch

    results = await asyncio.gather(answer(), hung, return_exceptions=True)

    # No error is raised: the cancellation sits in the list like any result.
    assert results[0] == "item-a"
    assert type(results[1]) is asyncio.CancelledError
