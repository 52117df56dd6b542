"""Stock reservations over asyncpg: row locks, savepoints and domain errors.

Every function takes the connection to work on, so the caller decides the
transaction: a request handler passes a connection from its pool, a test
passes one inside a transaction that is rolled back afterwards.
"""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A plain connection, or one borrowed from a pool: both work the same here.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    sku   text PRIMARY KEY,
    stock integer NOT NULL CHECK (stock >= 0)
)
"""


class DuplicateSkuError(Exception):
    """A product with this SKU already exists."""


class UnknownSkuError(LookupError):
    """No product has this SKU."""


class OutOfStockError(Exception):
    """Fewer items are in stock than were asked for; nothing was reserved."""

    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(f"cannot reserve {requested} of {sku}: only {available} in stock")
        self.sku, self.requested, self.available = sku, requested, available


async def add_product(conn: Connection, sku: str, stock: int) -> None:
    try:
        async with conn.transaction():  # a savepoint inside the caller's transaction
            await conn.execute("INSERT INTO products (sku, stock) VALUES ($1, $2)", sku, stock)
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateSkuError(f"product {sku} already exists") from exc


async def stock_of(conn: Connection, sku: str) -> int:
    stock: int | None = await conn.fetchval("SELECT stock FROM products WHERE sku = $1", sku)
    if stock is None:
        raise UnknownSkuError(f"no product {sku}")
    return stock


async def reserve(conn: Connection, sku: str, quantity: int) -> int:
    """Take ``quantity`` items out of stock and return what is left."""
    async with conn.transaction():
        # FOR UPDATE: two concurrent reservations of the last item cannot both succeed.
        available: int | None = await conn.fetchval("SELECT stock FROM products WHERE sku = $1 FOR UPDATE", sku)
        if available is None:
            raise UnknownSkuError(f"no product {sku}")
        if available < quantity:
            raise OutOfStockError(sku, quantity, available)
        remaining: int = await conn.fetchval(
            "UPDATE products SET stock = stock - $2 WHERE sku = $1 RETURNING stock", sku, quantity
        )
        return remaining


async def reserve_all(conn: Connection, order: dict[str, int]) -> dict[str, int]:
    """Reserve every line of an order or none of them."""
    async with conn.transaction():
        # Sorted: concurrent orders lock rows in the same order and cannot deadlock.
        return {sku: await reserve(conn, sku, order[sku]) for sku in sorted(order)}
