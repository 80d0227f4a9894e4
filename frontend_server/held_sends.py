"""What a front end holds for a worker that hands its sessions to a new process.

Between the worker's Pause and its next Welcome, messages for it are kept here, in
order and bounded (MAX_HELD_BYTES), then sent first: keystrokes typed meanwhile
arrive once and in order. Pure: no sockets.
"""

from __future__ import annotations

from shared.errors import Unavailable

MAX_HELD_BYTES = 4 << 20
"""What is held for one worker; past it, sends are refused."""


class HeldSends:
    def __init__(self) -> None:
        self._held: list[list[bytes]] | None = None  # None: not paused
        self._bytes = 0

    @property
    def holding(self) -> bool:
        return self._held is not None

    def start(self) -> None:
        if self._held is None:
            self._held, self._bytes = [], 0

    def hold(self, frames: list[bytes], who: str) -> None:
        assert self._held is not None
        size = sum(len(f) for f in frames)
        if self._bytes + size > MAX_HELD_BYTES:
            raise Unavailable(f"worker {who} is being upgraded")
        self._bytes += size
        self._held.append(frames)

    def release(self) -> list[list[bytes]]:
        """What was held, in order; holding ends."""
        held, self._held = self._held or [], None
        return held
