"""LogPipe: Docker's logs stream taken apart on the loop, its memory bounded by pausing
the connection, and a logs download cut when its reader stops acking."""

from __future__ import annotations

import asyncio
import struct

import pytest

from exec_worker.container_logs import LogPipe
from exec_worker.exec_stream import ExecStream
from exec_worker.transfers import WINDOW, Download
from shared.errors import ProtocolError, TimedOut


class FakeTransport(asyncio.Transport):
    """Records pause and resume; nothing is sent anywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.closed = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def close(self) -> None:
        self.closed = True


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">B3xL", stream, len(payload)) + payload


def upgraded(data: bytes = b"") -> ExecStream:
    """A stream past Docker's answer head, holding `data` read with it."""
    stream = ExecStream()
    head = b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\n\r\n" + data
    stream.get_buffer(len(head))[: len(head)] = head
    stream.buffer_updated(len(head))
    return stream


def feed(stream: ExecStream, data: bytes) -> None:
    stream.get_buffer(len(data))[: len(data)] = data
    stream.buffer_updated(len(data))


async def read_all(pipe: LogPipe) -> bytes:
    got = b""
    while chunk := await pipe.read():
        got += chunk
    return got


async def test_frames_lose_their_headers_and_keep_their_order() -> None:
    """stdout and stderr pieces come out in the order Docker sent them, headers gone,
    whatever the reads cut (bytes read with the answer's head included)."""
    body = frame(1, b"out 1\n") + frame(2, b"err \xff\n") + frame(1, b"out 2\n")
    stream = upgraded(body[:3])
    pipe = LogPipe(stream, FakeTransport(), tty=False)
    for i in range(3, len(body), 5):
        feed(stream, body[i : i + 5])
    stream.connection_lost(None)
    assert await read_all(pipe) == b"out 1\nerr \xff\nout 2\n"


async def test_a_tty_containers_log_comes_raw() -> None:
    """With a tty Docker sends no frames: the bytes pass as they are."""
    stream = upgraded(b"\x01\x00raw")
    pipe = LogPipe(stream, FakeTransport(), tty=True)
    stream.connection_lost(None)
    assert await read_all(pipe) == b"\x01\x00raw"


async def test_the_connection_pauses_while_the_reader_is_behind() -> None:
    """Past `buffer` bytes waiting, Docker's connection is paused; reading resumes it."""
    stream = upgraded()
    transport = FakeTransport()
    pipe = LogPipe(stream, transport, tty=True, buffer=10)
    feed(stream, b"0123456789abc")
    assert transport.paused
    assert await pipe.read() == b"0123456789abc"
    assert not transport.paused


async def test_a_broken_frame_header_fails_the_stream() -> None:
    """Bytes that are not Docker's frames end the stream with an error, not garbage."""
    stream = upgraded(b"\x09\x01\x02\x03\x00\x00\x00\x01x")
    transport = FakeTransport()
    pipe = LogPipe(stream, transport, tty=False)
    stream.connection_lost(None)
    with pytest.raises(ProtocolError):
        await read_all(pipe)
    assert transport.closed


async def test_a_download_whose_reader_stops_acking_is_cut() -> None:
    """With a stall deadline, a full window that nobody acks ends the download."""
    sent: list[object] = []
    download = Download(b"peer", "r1", sent.append, stall=0.05)

    async def endless() -> bytes:
        return b"x" * 65536

    with pytest.raises(TimedOut, match="took nothing"):
        await asyncio.wait_for(download.send("log", -1, endless), 5)
    assert download.sent == WINDOW
