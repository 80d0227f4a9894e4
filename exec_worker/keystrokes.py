"""ProgramInput: the owner's keystrokes on their way into the program.

Keystrokes typed while the exec starts are held (up to `limit` bytes) and written
once it runs, in order; after that each is written at once, unless the program has
left `limit` bytes unread, when more is refused with TooLarge rather than buffered
without bound. What is written is counted and, where the policy asks, recorded. The
end of input (`end`, sessions without a tty) half-closes the exec's connection after
what came before; input after it is refused.

Concurrency: the worker's loop; writes go to the exec's non-blocking transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from exec_worker.metrics import BYTES
from shared.errors import Conflict, TooLarge


class ProgramInput:
    def __init__(self, limit: int, record: Callable[[bytes], None]) -> None:
        self.written = 0
        self._limit = limit
        self._record = record
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._transport: asyncio.Transport | None = None
        self.ended = False

    def hold(self, data: bytes) -> None:
        """Before the program runs."""
        self._check_open()
        if self._held_bytes + len(data) > self._limit:
            raise TooLarge(f"more than {self._limit} bytes of input before the session started")
        self._held.append(data)
        self._held_bytes += len(data)

    def running(self, transport: asyncio.Transport) -> None:
        """The program runs: what was held goes first."""
        self._transport = transport
        if self._held:
            held = b"".join(self._held)
            self._held.clear()
            self._held_bytes = 0
            self._send(held)
        if self.ended:
            self._write_eof()

    def write(self, data: bytes) -> None:
        assert self._transport is not None
        self._check_open()
        if self._transport.get_write_buffer_size() + len(data) > self._limit:
            raise TooLarge(f"the program has not read the last {self._limit} bytes of input")
        self._send(data)

    def _send(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)
        self.written += len(data)
        BYTES.inbound += len(data)
        self._record(data)

    def end(self) -> None:
        """No more input: the program reads EOF once it has read what came before."""
        self.ended = True
        if self._transport is not None:
            self._write_eof()

    def _check_open(self) -> None:
        if self.ended:
            raise Conflict("the session's input has ended (eof): input not delivered")

    def _write_eof(self) -> None:
        assert self._transport is not None
        if self._transport.can_write_eof():
            self._transport.write_eof()
