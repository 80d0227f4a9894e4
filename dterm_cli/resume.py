"""What the dterm client keeps so that a session survives the network: the books of
output received and of input sent, which make a resume lose and double nothing.

Output (OutputPosition): the session offset after the last byte received, which is
what an `attach` names to carry on; acks of what was consumed, a quarter window at a
time, as the protocol's flow control asks.

Input (InputLedger), counted in the session's own count of input bytes, which
`opened` tells and `input-ack` messages advance:
- pending: read from stdin, not sent yet: typed while the connection was down, or
  waiting for room in the window. At most `pending_limit` bytes; stdin is not read
  further meanwhile (a pipe simply waits; a terminal's own buffer holds keys).
- unacked: sent, not acknowledged yet; never more than the window. When a resume's
  `opened` counts fewer input bytes than were sent, the rest never arrived (the
  connection dropped with them in flight): they go back to the front of pending and
  are sent again, so each byte reaches the program once. Bytes sent through a
  connection that is gone are refused by the worker (it belongs to no one any more),
  so nothing arrives twice.
- A session that has ended takes no input: whatever is pending is then reported as
  not delivered, never dropped silently.

Pure: no I/O, no clock.
"""

from __future__ import annotations

PENDING_LIMIT = 64 * 1024
CHUNK = 64 * 1024
"""The most input sent as one binary frame."""


class OutputPosition:
    def __init__(self) -> None:
        self.offset = 0
        self._acked = 0
        self._step = 1

    def opened(self, offset: int, window: int) -> None:
        self.offset = self._acked = offset
        self._step = max(1, window // 4)

    def consumed(self, count: int) -> int | None:
        """`count` more bytes were written out; the offset to ack now, if any."""
        self.offset += count
        if self.offset - self._acked < self._step:
            return None
        self._acked = self.offset
        return self.offset

    def skipped(self, count: int) -> None:
        self.offset += count


class InputLedger:
    def __init__(self, pending_limit: int = PENDING_LIMIT) -> None:
        self.acked = 0
        self.sent = 0
        self.ended = False
        """stdin has ended: `eof` follows the last byte."""
        self.eof_sent = False
        self._pending = bytearray()
        self._unacked = bytearray()
        self._window = 0  # nothing may be sent before `opened`
        self._limit = pending_limit

    @property
    def pending(self) -> int:
        return len(self._pending)

    def room(self) -> int:
        """How much more stdin may be read now."""
        return max(0, self._limit - len(self._pending))

    def take(self, data: bytes) -> None:
        self._pending += data

    def end(self) -> None:
        self.ended = True

    def next_chunk(self) -> bytes:
        """Bytes to send now, within the window; b"" when none may go."""
        room = self._window - (self.sent - self.acked)
        count = min(len(self._pending), room, CHUNK)
        if count <= 0:
            return b""
        chunk = bytes(self._pending[:count])
        del self._pending[:count]
        self._unacked += chunk
        self.sent += count
        return chunk

    def eof_due(self) -> bool:
        return self.ended and not self._pending and not self.eof_sent

    def acknowledged(self, offset: int) -> None:
        """An `input-ack`: the session has taken input up to `offset`."""
        if offset > self.acked:
            del self._unacked[: min(offset - self.acked, len(self._unacked))]
            self.acked = offset

    def opened(self, taken: int, window: int) -> None:
        """`opened` (first or on resume): the session has taken `taken` bytes of input.
        What was sent beyond that never arrived and is sent again first."""
        self._window = window
        lost = min(max(0, self.sent - taken), len(self._unacked))
        if lost:
            self._pending[:0] = self._unacked[len(self._unacked) - lost :]
        self._unacked.clear()
        self.acked = self.sent = taken
        self.eof_sent = False  # said again: the worker takes a second `eof` as a no-op

    def drop_pending(self) -> int:
        """The session takes no more input: forget what is pending, send nothing more
        (not even `eof`); returns how many bytes were not delivered."""
        count = len(self._pending)
        self._pending.clear()
        self._window = 0
        self.eof_sent = True
        return count
