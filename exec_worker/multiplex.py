"""Docker's multiplexed stream of an exec without a tty, parsed without I/O.

Without a tty, Docker sends stdout and stderr on one connection as frames: an
8-byte header (the stream: 1 stdout, 2 stderr, 3 a daemon error; three zero
bytes; the payload's size, 4 bytes big-endian) and then that many bytes. A frame
may be split over any number of reads, and one read may hold many frames.

Demux hands each payload on in the pieces it arrives in, never gathering a whole
frame, so it holds at most the 7 bytes of an unfinished header whatever the frame
sizes; the bytes themselves are never decoded. Pure: no I/O, no event loop.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from shared.errors import ProtocolError

HEADER = struct.Struct(">B3sL")


class Stream(IntEnum):
    STDOUT = 1
    STDERR = 2
    SYSTEM_ERROR = 3
    """The daemon's own error text (Docker's stdcopy `Systemerr`)."""


_STREAMS = {0: Stream.STDOUT, 1: Stream.STDOUT, 2: Stream.STDERR, 3: Stream.SYSTEM_ERROR}
"""Docker's stdcopy reads stream 0 (stdin) as stdout too."""


class Demux:
    """Frame headers out, (stream, bytes) pieces in order."""

    def __init__(self) -> None:
        self._header = bytearray()
        self._stream = Stream.STDOUT
        self._left = 0  # payload bytes of the current frame still to come

    @property
    def between_frames(self) -> bool:
        """True when the bytes so far end exactly at a frame's end."""
        return self._left == 0 and not self._header

    def state(self) -> tuple[bytes, int, int]:
        """Where it is within a frame: header bytes read, stream, payload left."""
        return bytes(self._header), int(self._stream), self._left

    def resume(self, header: bytes, stream: int, left: int) -> None:
        if len(header) >= HEADER.size or left < 0:
            raise ProtocolError("a demultiplexer state no stream can be in")
        self._header, self._stream, self._left = bytearray(header), Stream(stream), left

    def feed(self, data: bytes) -> list[tuple[Stream, bytes]]:
        """The payload pieces in `data`; ProtocolError for a header Docker never sends."""
        pieces: list[tuple[Stream, bytes]] = []
        view = memoryview(data)
        while view:
            if self._left:
                piece = bytes(view[: self._left])
                view = view[len(piece) :]
                self._left -= len(piece)
                pieces.append((self._stream, piece))
                continue
            wanted = HEADER.size - len(self._header)
            self._header += view[:wanted]
            view = view[wanted:]
            if len(self._header) == HEADER.size:
                self._start_frame()
        return pieces

    def _start_frame(self) -> None:
        kind, padding, size = HEADER.unpack(self._header)
        self._header.clear()
        stream = _STREAMS.get(kind)
        if stream is None or padding != b"\0\0\0":
            raise ProtocolError(f"not a multiplexed stream (a frame header of {kind}, {padding!r})")
        self._stream, self._left = stream, size
