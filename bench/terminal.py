"""A terminal as the benchmark drives it: keystrokes in, output bytes counted, exit.

Two kinds share this base: StackTerminal (a WebSocket to the front end, in
bench/stack.py) and FloorTerminal (an exec started straight on the Docker socket,
in bench/floor.py), so every metric is written once for both. Output is counted
and its arrival time noted in the read callback itself, before any task wakes up;
it is kept only when asked, so a 50 MB run costs the client no memory.

Concurrency: everything runs on the bench's one event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

READY = b"ready\r\n"
"""What `echo ready` prints under a tty (ONLCR turns the newline into CR LF)."""


class Terminal:
    """Counts output, wakes whoever waits for a byte count, and holds the exit."""

    def __init__(self, keep: bool = False) -> None:
        self.received = 0
        self.head = bytearray()
        self.output = bytearray()
        self.first_at = 0.0
        self.last_at = 0.0
        self.received_at_exit = -1
        self.arrivals: list[float] | None = None
        """When each read of output arrived, while a metric asks (None: not kept)."""
        self._keep = keep
        self._waiter: tuple[int, asyncio.Future[float]] | None = None
        self.exited: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    # --- what subclasses call ---------------------------------------------------------

    def _on_output(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.received:
            self.first_at = now
        self.last_at = now
        if self.arrivals is not None:
            self.arrivals.append(now)
        self.received += len(data)
        if len(self.head) < 64:
            self.head += data[: 64 - len(self.head)]
        if self._keep:
            self.output += data
        waiter = self._waiter
        if waiter is not None and self.received >= waiter[0] and not waiter[1].done():
            waiter[1].set_result(now)

    def _on_exit(self, message: dict[str, Any]) -> None:
        """The session is over; a waiter for bytes that will never come fails now."""
        if self.exited.done():
            return
        self.received_at_exit = self.received
        self.exited.set_result(message)
        waiter = self._waiter
        if waiter is not None and not waiter[1].done():
            waiter[1].set_exception(EOFError(f"session ended: {message}"))

    # --- what metrics call ------------------------------------------------------------

    def send_keys(self, data: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def wait_bytes(self, count: int, within: float = 10) -> float:
        """Wait until `count` bytes have arrived; returns when the last of them did."""
        if self.received >= count:
            return self.last_at
        if self.exited.done():
            raise EOFError(f"session ended after {self.received} of {count} bytes")
        future = asyncio.get_running_loop().create_future()
        self._waiter = (count, future)
        try:
            return await asyncio.wait_for(future, within)
        finally:
            self._waiter = None

    async def wait_ready(self, within: float = 20) -> None:
        await self.wait_bytes(len(READY), within)
        if not self.head.startswith(READY):
            raise RuntimeError(f"expected {READY!r}, got {bytes(self.head)!r}")

    async def wait_exit(self, within: float = 20) -> dict[str, Any]:
        return await asyncio.wait_for(asyncio.shield(self.exited), within)

    async def end(self, within: float = 10) -> None:
        """End `cat` the way a person would (Enter, then Ctrl-D) and close the link."""
        try:
            if not self.exited.done():
                self.send_keys(b"\r\x04")
                await self.wait_exit(within)
        finally:
            await self.close()


class Typist:
    """Types one key at a time into `cat` under a tty and times each echo.

    The tty is in canonical mode: the line discipline echoes every key at once and
    holds the line, which may not grow past 4095 bytes. So every LINE keys a
    carriage return hands the line to cat; its echo and cat's copy of the line are
    waited for but not timed. Start it once the terminal has printed READY.
    """

    LINE = 200

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self._expected = terminal.received
        self._typed = 0

    async def key(self, within: float = 10) -> float:
        """Type one key; returns its round trip in seconds."""
        if self._typed == self.LINE:
            await self._flush_line(within)
        self._expected += 1
        key = bytes([0x61 + self._typed % 26])
        sent = time.perf_counter()
        self.terminal.send_keys(key)
        arrived = await self.terminal.wait_bytes(self._expected, within)
        self._typed += 1
        return arrived - sent

    async def _flush_line(self, within: float) -> None:
        self._expected += 2 + self._typed + 2  # echoed CR LF, then the line and CR LF
        self.terminal.send_keys(b"\r")
        await self.terminal.wait_bytes(self._expected, within)
        self._typed = 0
