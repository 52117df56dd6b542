"""Hash a stream of byte chunks as they arrive, without holding the whole payload in memory.

This is the small piece of async code that the configuration recipe's tests run.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable

Chunk = bytes | bytearray | memoryview


def new_hasher(algorithm: str) -> hashlib._Hash:
    """A fresh hasher for ``algorithm``; unknown and variable-length algorithms are refused."""
    try:
        hasher = hashlib.new(algorithm)
    except (TypeError, ValueError):
        known = ", ".join(sorted(hashlib.algorithms_guaranteed - {"shake_128", "shake_256"}))
        raise ValueError(f"unknown hash algorithm {algorithm!r}; use one of: {known}") from None
    if hasher.digest_size == 0:
        raise ValueError(f"{algorithm!r} has no fixed digest size; pick a fixed-size algorithm such as 'sha256'")
    return hasher


async def digest_stream(chunks: AsyncIterable[Chunk], algorithm: str = "sha256") -> str:
    """Return the hex digest of all of ``chunks``, fed in order.

    The algorithm is checked before the first chunk is read, so a typo costs no data.
    """
    hasher = new_hasher(algorithm)
    async for chunk in chunks:
        if not isinstance(chunk, Chunk):
            raise TypeError(f"chunks must be bytes, got {type(chunk).__name__}: {chunk!r:.40}")
        hasher.update(chunk)
    return hasher.hexdigest()
