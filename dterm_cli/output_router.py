"""Where a session's output goes on this machine.

A session with a tty sends terminal bytes: they go to stdout as they are. A session
without one sends Docker's multiplexed stream (docs/protocol.md): frames of an 8-byte
header and stdout or stderr bytes, cut across WebSocket messages anywhere. The
frames are taken apart by the same parser the worker uses for its own execs
(exec_worker/multiplex.py), which never decodes a byte: stdout's bytes go to fd 1,
stderr's and the daemon's own error text to fd 2, so `pg_dump > dump.sql` gets
exactly the program's stdout.

Pure: no I/O.
"""

from __future__ import annotations

from exec_worker.multiplex import Demux, Stream

STDOUT = 1
STDERR = 2


class OutputRouter:
    def __init__(self, tty: bool) -> None:
        self._demux = None if tty else Demux()

    @property
    def between_frames(self) -> bool:
        """Whether the bytes so far end at a frame's end (always, with a tty)."""
        return self._demux is None or self._demux.between_frames

    def route(self, data: bytes) -> list[tuple[int, bytes]]:
        """(file descriptor, bytes) to write, in order; ProtocolError for a stream that
        is not multiplexed."""
        if self._demux is None:
            return [(STDOUT, data)] if data else []
        routed: list[tuple[int, list[bytes]]] = []
        for stream, piece in self._demux.feed(data):
            fd = STDOUT if stream is Stream.STDOUT else STDERR
            if routed and routed[-1][0] == fd:
                routed[-1][1].append(piece)
            else:
                routed.append((fd, [piece]))
        return [(fd, b"".join(pieces)) for fd, pieces in routed]
