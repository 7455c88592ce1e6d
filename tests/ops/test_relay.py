"""The supervisor's relay of a worker's stdout: whole lines, bounded memory, nothing lost."""

from __future__ import annotations

import asyncio
import io

from gateway.relay import MAX_LINE, relay_lines


async def relayed(*chunks: bytes) -> bytes:
    source = asyncio.StreamReader()
    for chunk in chunks:
        source.feed_data(chunk)
    source.feed_eof()
    sink = io.BytesIO()
    await relay_lines(source, sink)
    return sink.getvalue()


async def test_lines_split_across_chunks_arrive_whole_and_in_order() -> None:
    out = await relayed(b'{"a": 1}\n{"b":', b' 2}\n{"c"', b": 3}\n")
    assert out == b'{"a": 1}\n{"b": 2}\n{"c": 3}\n'


async def test_an_unfinished_last_line_is_passed_on_with_a_newline() -> None:
    assert await relayed(b'{"a": 1}\n{"cut": ') == b'{"a": 1}\n{"cut": \n'


async def test_a_line_longer_than_the_bound_still_arrives_byte_for_byte() -> None:
    endless = b"x" * (MAX_LINE + 1024)
    out = await relayed(endless, b"\n")
    assert out == endless + b"\n"  # every byte, without holding more than MAX_LINE at once
