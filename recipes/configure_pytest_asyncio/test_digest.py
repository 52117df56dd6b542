"""Tests in the style that passes under both modes: strict (the default) and auto.

The configuration itself, and what each wrong setting does to a run, is shown in
throwaway projects in test_pitfalls.py.
"""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest
import pytest_asyncio

from .digest import Chunk, digest_stream

HELLO_SHA256 = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"  # sha256(b"hello world")
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # sha256(b"")


async def chunks_of(*chunks: Chunk) -> AsyncGenerator[Chunk, None]:
    """An async stream that suspends before each chunk, like a socket read."""
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk


@pytest_asyncio.fixture  # an async @pytest.fixture is an error in strict mode
async def hello_stream() -> AsyncIterator[AsyncGenerator[Chunk, None]]:
    stream = chunks_of(b"hello", b" ", b"world")
    yield stream
    await stream.aclose()  # closed even if a test stops reading early


@pytest.mark.asyncio  # optional in auto mode, required in strict mode: always write it
async def test_a_chunked_stream_has_the_digest_of_the_whole_payload(
    hello_stream: AsyncGenerator[Chunk, None],
) -> None:
    assert await digest_stream(hello_stream) == HELLO_SHA256


@pytest.mark.asyncio
async def test_an_empty_stream_has_the_digest_of_no_bytes() -> None:
    assert await digest_stream(chunks_of()) == EMPTY_SHA256


@pytest.mark.asyncio
async def test_the_requested_algorithm_is_used() -> None:
    assert await digest_stream(chunks_of(b"hello ", b"world"), "md5") == "5eb63bbbe01eeed093cb22bb8f5acdc3"
