"""ExecStream: the HTTP head of exec start is parsed, every byte after it is kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from exec_worker.exec_stream import ExecStream
from shared.errors import NotFound, NotRunning, Unavailable

HEAD = b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"


def feed(stream: ExecStream, data: bytes) -> None:
    """Deliver bytes the way the event loop does, through get_buffer/buffer_updated."""
    while data:
        buffer = stream.get_buffer(len(data))
        n = min(len(buffer), len(data))
        buffer[:n] = data[:n]
        stream.buffer_updated(n)
        data = data[n:]


async def test_bytes_read_with_the_head_belong_to_the_stream() -> None:
    """Output that arrives in the same read as the 101 head is delivered first, in order."""
    stream = ExecStream()
    feed(stream, HEAD + b"first")
    await stream.upgraded
    feed(stream, b" second")
    got: list[bytes] = []
    stream.attach(got.append, lambda: got.append(b"<closed>"))
    feed(stream, b" third")
    stream.connection_lost(None)
    assert b"".join(got) == b"first second third<closed>"


async def test_head_split_across_reads() -> None:
    stream = ExecStream()
    for i in range(0, len(HEAD), 7):
        feed(stream, HEAD[i : i + 7])
    await asyncio.wait_for(stream.upgraded, 1)


async def test_read_size_follows_the_limit() -> None:
    """get_buffer never offers more than the room left in the window."""
    stream = ExecStream()
    stream.limit = 10
    assert len(stream.get_buffer(65536)) == 10
    stream.limit = 10**9
    assert len(stream.get_buffer(65536)) == ExecStream.CHUNK


@pytest.mark.parametrize(
    ("status", "error"),
    [(b"404 Not Found", NotFound), (b"409 Conflict", NotRunning), (b"500 Oops", Exception)],
)
async def test_error_answers_raise_typed_errors(status: bytes, error: type[Exception]) -> None:
    stream = ExecStream()
    body = b'{"message":"why it failed"}'
    feed(stream, b"HTTP/1.1 " + status + b"\r\nContent-Length: 27\r\n\r\n" + body)
    with pytest.raises(error, match="why it failed"):
        await stream.upgraded


async def test_connection_lost_before_head_is_unavailable() -> None:
    stream = ExecStream()
    stream.connection_lost(ConnectionResetError())
    with pytest.raises(Unavailable):
        await stream.upgraded


def test_oversized_head_is_refused() -> None:
    async def run() -> Any:
        stream = ExecStream()
        feed(stream, b"HTTP/1.1 101 UPGRADED\r\n" + b"X: y\r\n" * 20000)
        return await stream.upgraded

    with pytest.raises(Unavailable):
        asyncio.run(run())
