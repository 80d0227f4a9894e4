"""InputCredit: when a session tells its owner how much of its input it has taken.

A person's keystrokes are few, but a script may pipe megabytes into a program
(`tar c . | dterm exec -T c -- tar x`). The session writes input to the exec's
connection at once and refuses it once `max_pending_input` bytes wait unread, so a
client that sends faster than the program reads must be held back rather than
refused: it keeps at most one window of input unacknowledged, and the session
acknowledges (InputAck) what it has taken in steps of a quarter window, and only
while the program keeps up (the connection's write buffer is under its high-water
mark); once the buffer drains, the acknowledgement follows. Typing thus costs no
acknowledgements at all.

`received` counts the input bytes of the session's whole life (held ones too); it is
also what `opened` tells an owner who resumes, who then resends what came after.

Pure: no I/O, no clock.
"""

from __future__ import annotations


class InputCredit:
    def __init__(self, step: int) -> None:
        self.received = 0
        self._step = max(1, step)
        self.told_offset = 0

    def took(self, count: int) -> None:
        self.received += count

    def told(self) -> None:
        """The owner has just been told `received` another way (in `opened`)."""
        self.told_offset = self.received

    def due(self, behind: bool) -> int | None:
        """The offset to acknowledge now, if any: none while the program is behind."""
        if behind or self.received - self.told_offset < self._step:
            return None
        self.told_offset = self.received
        return self.received
