"""Execs without a tty: Docker's multiplexed frames taken apart, output pulled with
backpressure, stdin ended, and a transfer's failure told by its program's end."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exec_worker.docker_exec import ExecState
from exec_worker.exec_pipe import ExecPipe
from exec_worker.exec_stream import ExecStream
from exec_worker.multiplex import Demux, Stream
from exec_worker.transfers import is_root
from exec_worker.user_transfers import NO_TOOLS, Failure
from shared.errors import CommandNotFound, Forbidden, NotFound, ProtocolError, StartFailed

HEAD = b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n\r\n"


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


frames = st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)), max_size=12)


@given(frames, st.lists(st.integers(1, 50), min_size=1, max_size=30))
def test_frames_split_anywhere_come_out_whole_and_in_order(
    sent: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    """However reads cut the stream, each stream's bytes come out exactly, in order."""
    wire = b"".join(frame(s, p) for s, p in sent)
    demux, got = Demux(), {Stream.STDOUT: b"", Stream.STDERR: b""}
    position, turn = 0, 0
    while position < len(wire):
        size = cuts[turn % len(cuts)]
        for stream, piece in demux.feed(wire[position : position + size]):
            assert piece, "no empty pieces"
            got[stream] += piece
        position, turn = position + size, turn + 1
    assert got[Stream.STDOUT] == b"".join(p for s, p in sent if s == 1)
    assert got[Stream.STDERR] == b"".join(p for s, p in sent if s == 2)
    assert demux.between_frames


def test_a_frame_is_handed_on_before_it_is_complete() -> None:
    """A big frame's bytes are passed on as they come, never gathered first."""
    demux = Demux()
    assert demux.feed(frame(1, b"x" * 1000)[:108]) == [(Stream.STDOUT, b"x" * 100)]
    assert not demux.between_frames


@pytest.mark.parametrize("header", [b"\x07\0\0\0\0\0\0\x01", b"\x01\0\x05\0\0\0\0\x01"])
def test_a_raw_stream_is_not_taken_for_frames(header: bytes) -> None:
    """Bytes that are not frame headers (a tty's raw output, say) are refused."""
    with pytest.raises(ProtocolError):
        Demux().feed(header + b"x")


class FakeTransport(asyncio.Transport):
    """Records what the pipe does to its connection."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.written = b""
        self.eof = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def write(self, data: Any) -> None:
        self.written += bytes(data)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def close(self) -> None:
        pass


def feed(stream: ExecStream, data: bytes) -> None:
    while data:
        buffer = stream.get_buffer(len(data))
        n = min(len(buffer), len(data))
        buffer[:n] = data[:n]
        stream.buffer_updated(n)
        data = data[n:]


async def test_a_slow_reader_pauses_the_connection() -> None:
    """Past `buffer` unread bytes the connection stops being read, until they are read."""
    stream, transport = ExecStream(), FakeTransport()
    feed(stream, HEAD)
    pipe = ExecPipe(None, "e1", stream, transport, buffer=1000)  # type: ignore[arg-type]
    feed(stream, frame(1, b"a" * 600) + frame(2, b"oops\n") + frame(1, b"b" * 600))
    assert transport.paused
    assert await pipe.read_stdout() == b"a" * 600
    assert not transport.paused
    assert await pipe.read_stdout() == b"b" * 600
    assert bytes(pipe.stderr) == b"oops\n"
    stream.connection_lost(None)
    assert await pipe.read_stdout() == b""


async def test_stdin_is_written_then_ended() -> None:
    stream, transport = ExecStream(), FakeTransport()
    feed(stream, HEAD)
    pipe = ExecPipe(None, "e1", stream, transport)  # type: ignore[arg-type]
    pipe.write(b"\x00\xffbytes")
    pipe.close_stdin()
    assert transport.written == b"\x00\xffbytes" and transport.eof


async def test_a_stream_cut_inside_a_frame_is_an_error() -> None:
    stream, transport = ExecStream(), FakeTransport()
    feed(stream, HEAD)
    pipe = ExecPipe(None, "e1", stream, transport)  # type: ignore[arg-type]
    feed(stream, frame(1, b"whole") + frame(1, b"cut short")[:-3])
    stream.connection_lost(None)
    assert await pipe.read_stdout() == b"whole"
    assert await pipe.read_stdout() == b"cut sh"
    with pytest.raises(ProtocolError):
        await pipe.read_stdout()


def ended(code: int, pid: int = 42) -> ExecState:
    return ExecState(running=False, exit_code=code, pid=pid, container_id="c", started=pid != 0)


UPLOAD = Failure(True, "/etc/passwd", "web", "1000", "/etc/.dterm-upload-1a2b")
DOWNLOAD = Failure(False, "/srv/secret", "web", "1000")


@pytest.mark.parametrize(
    ("failure", "state", "said", "error", "words"),
    [
        (DOWNLOAD, ended(1), b"cat: can't open '/srv/secret': Permission denied", Forbidden,
         "as user 1000: cat: can't open '/srv/secret': Permission denied"),
        (UPLOAD, ended(24), b"dterm-put: line 3: can't create /etc/.dterm-upload-1a2b: "
         b"Permission denied", Forbidden, "as user 1000: can't create /etc/passwd: Permission"),
        (UPLOAD, ended(24), b"sh: can't create /no/x: nonexistent directory", NotFound,
         "no folder /etc in web"),
        (DOWNLOAD, ended(1), b"cat: /srv/secret: No such file or directory", NotFound,
         "no file /srv/secret in web"),
        (DOWNLOAD, ended(126, pid=0),
         b'OCI runtime exec failed: exec: "sh": executable file not found in $PATH',
         CommandNotFound, "file transfers as user 1000 need sh and cat in the container"),
        (UPLOAD, ended(NO_TOOLS), b"", CommandNotFound, "need sh, cat, wc, mv and rm"),
        (DOWNLOAD, ended(126, pid=0), b"unable to find user 1000: no matching entries",
         StartFailed, "unable to find user"),
        (DOWNLOAD, ended(20), b"", ProtocolError, "/srv/secret is a directory"),
        (DOWNLOAD, ended(22), b"", ProtocolError, "not a regular file"),
    ],
)  # fmt: skip
def test_a_failed_transfer_says_why(
    failure: Failure, state: ExecState, said: bytes, error: type[Exception], words: str
) -> None:
    """Permission refusals are forbidden in the program's words; the rest by exit code."""
    found = failure.error(state, said)
    assert type(found) is error and words in str(found)


@pytest.mark.parametrize(
    ("user", "root"),
    [("", True), ("root", True), ("0", True), ("0:0", True), ("root:root", True),
     ("0:1000", True), ("1000", False), ("app", False), ("1000:0", False), ("rooty", False)],
)  # fmt: skip
def test_which_users_are_root(user: str, root: bool) -> None:
    """Docker's empty user is root; a uid or name of 0/root, whatever the group."""
    assert is_root(user) is root
