"""OutputFanOut: a session's output, from the ring to every connection taking part.

Output goes into a bounded ring first, then to each attachment as its flow-control
window allows, so a connection that drops can resume from the offset it had, and a
slow watcher skips ahead rather than holding the session back.

How much the session may read from its program (`room`): while the owner is
attached, what is left of the owner's window; while no owner is attached, what is
left of the ring beyond the owner's last acknowledged byte. So a detached session
keeps everything its owner has not seen and then holds the program back, instead of
reading (and recording) at full speed and overwriting output the owner never saw.

Pure: no I/O, no clock. The caller sends what `output`, `ack` and `join` return.
"""

from __future__ import annotations

from dataclasses import dataclass

from exec_worker.ring import OutputRing
from shared.errors import ProtocolError
from shared.settings import ack_step


@dataclass
class Position:
    """Where one attachment is: bytes sent to it and bytes it acknowledged."""

    sent: int
    acked: int


@dataclass(frozen=True, slots=True)
class Send:
    """Output bytes for one attachment, starting at session offset `offset` (past the
    attachment's previous end when bytes in between were skipped)."""

    attachment: str
    offset: int
    data: bytes


class OutputFanOut:
    def __init__(self, window: int, ring_bytes: int) -> None:
        self.window = window
        self.ring = OutputRing(max(ring_bytes, window))
        self.positions: dict[str, Position] = {}
        self.owner: str | None = None
        self.owner_acked = 0
        """The owner's last acknowledged offset, kept while no owner is attached."""

    @property
    def end(self) -> int:
        return self.ring.end

    def join(self, attachment: str, offset: int, owner: bool) -> tuple[int, int]:
        """Take part from `offset`; returns (where output starts, bytes skipped). The
        caller tells the attachment, then calls `pump` for what is waiting."""
        if offset > self.ring.end:
            raise ProtocolError(f"offset {offset} is beyond the {self.ring.end} bytes produced")
        if attachment in self.positions:
            raise ProtocolError(f"attachment {attachment} already takes part")
        start = max(offset, self.ring.start)
        self.positions[attachment] = Position(start, start)
        if owner:
            self.owner = attachment
            self.owner_acked = max(self.owner_acked, start)
        return start, start - offset

    def leave(self, attachment: str) -> None:
        self.positions.pop(attachment, None)
        if attachment == self.owner:
            self.owner = None

    def room(self) -> int:
        """Bytes the session may read from its program now (0 or less: hold it back)."""
        if self.owner is not None:
            return self.window - (self.ring.end - self.positions[self.owner].acked)
        return self.ring.capacity - (self.ring.end - self.owner_acked)

    def output(self, data: bytes) -> list[Send]:
        """New output from the program: kept, then sent where windows allow."""
        start = self.ring.end
        self.ring.append(data)
        sends = []
        for attachment in self.positions:
            send = self._pump(attachment, start, data)
            if send is not None:
                sends.append(send)
        return sends

    def ack(self, attachment: str, offset: int) -> Send | None:
        """The attachment consumed output up to `offset` (never counted beyond what it
        was sent); returns what may be sent to it now."""
        position = self.positions.get(attachment)
        if position is None:
            return None
        position.acked = max(position.acked, min(offset, position.sent))
        if attachment == self.owner:
            self.owner_acked = position.acked
        return self._pump(attachment)

    def pump(self, attachment: str) -> Send | None:
        return self._pump(attachment)

    def release_if_delivered(self) -> None:
        """For an ended session: once its attached owner has been sent every byte, the
        ring is history nobody waits for, and its memory goes back."""
        position = self.positions.get(self.owner) if self.owner else None
        if position is not None and position.sent >= self.ring.end:
            self.ring.release()

    def _pump(self, attachment: str, fresh_at: int = -1, fresh: bytes = b"") -> Send | None:
        """What the attachment's window allows; bytes that left the ring are skipped.

        A skip moves the attachment's position, not what it has in flight: it waits
        until the client has taken what it was sent (acks come in ack_step units), and
        what is still unacknowledged then counts against the window after the skip.
        So a watcher that falls behind is never sent more than one window."""
        position = self.positions[attachment]
        if position.sent < self.ring.start:
            in_flight = position.sent - position.acked
            if in_flight >= ack_step(self.window):
                return None
            position.sent = self.ring.start
            position.acked = self.ring.start - in_flight
        end = min(self.ring.end, position.acked + self.window)
        if end <= position.sent:
            return None
        if position.sent == fresh_at and end == self.ring.end:
            payload = fresh  # the common case: new output, window open; no copy
        else:
            payload = self.ring.read(position.sent, end)
        send = Send(attachment, position.sent, payload)
        position.sent = end
        return send
