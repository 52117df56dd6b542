"""Hash a stream of byte chunks as they arrive, without holding the whole payload in memory.

The small async unit that the configuration recipe's tests run, in this project and in
the throwaway projects of test_pitfalls.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable

Chunk = bytes | bytearray | memoryview


async def digest_stream(chunks: AsyncIterable[Chunk], algorithm: str = "sha256") -> str:
    """Return the hex digest of all of ``chunks``, fed to the hasher in order as they arrive."""
    hasher = hashlib.new(algorithm)
    async for chunk in chunks:
        hasher.update(chunk)
    return hasher.hexdigest()
