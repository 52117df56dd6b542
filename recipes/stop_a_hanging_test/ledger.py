"""Move money between accounts, each account behind an ``asyncio.Lock`` of its own.

A transfer holds both accounts' locks while it reads and writes them, so nobody sees a
half-done move. Taking two locks is where deadlocks come from: two transfers in opposite
directions, each holding its source and waiting for its target, wait for each other
forever. ``transfer`` takes the locks in one fixed order (by account name), so that
cannot happen. ``transfer_source_first`` takes them source first, the way such code is
often first written: it is the deadlock this recipe's tests stop and explain.
"""

from __future__ import annotations

import asyncio


class Ledger:
    """Balances in memory; the await between taking the two locks stands for a database round trip."""

    def __init__(self, balances: dict[str, int]) -> None:
        self._balances = dict(balances)
        self._locks = {account: asyncio.Lock() for account in balances}

    @property
    def balances(self) -> dict[str, int]:
        return dict(self._balances)

    async def transfer(self, source: str, target: str, amount: int) -> None:
        """Move ``amount``; locks in name order, so opposite transfers can run at the same time."""
        first, second = sorted((source, target))
        await self._move(source, target, amount, lock_order=(first, second))

    async def transfer_source_first(self, source: str, target: str, amount: int) -> None:
        """The classic bug: locks the source, then the target; an opposite transfer locks the other way."""
        await self._move(source, target, amount, lock_order=(source, target))

    async def _move(self, source: str, target: str, amount: int, lock_order: tuple[str, str]) -> None:
        if source == target:
            # asyncio.Lock is not reentrant: taking the same lock twice would wait forever.
            raise ValueError(f"cannot transfer from {source!r} to itself")
        first, second = lock_order
        async with self._locks[first]:
            await asyncio.sleep(0)  # reads the first balance: another transfer can start meanwhile
            async with self._locks[second]:
                self._balances[source] -= amount
                self._balances[target] += amount
