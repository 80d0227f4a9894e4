"""StreamTransport: an asyncio transport over a Tornado stream, for WebSockets over TLS.

A plain terminal WebSocket leaves Tornado for a transport of the loop's own
(terminal_socket.py). One over the front end's own TLS cannot: its TLS session
lives in Tornado's SSLIOStream, and a new transport would need a new session on
the same connection. This transport keeps the stream and offers the TerminalConnection
the calls it makes of a transport, with the same flow control: `pause_writing`
once more than HIGH_WATER bytes wait to be sent, `resume_writing` once no more than
LOW_WATER do, which holds the session's output (bridge.py) as on a plain socket.

Reads go through Tornado's futures, a little more work per frame than the loop's
own transport; TLS costs more than that anyway.

Concurrency: one reading task per connection; writes and their completions are
callbacks of the one loop. Nothing is called on the protocol after connection_lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tornado.iostream import IOStream, StreamClosedError

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 16
HIGH_WATER = 64 * 1024
"""asyncio's own default for its transports."""
LOW_WATER = HIGH_WATER // 4


class StreamTransport(asyncio.Transport):
    def __init__(self, stream: IOStream, protocol: asyncio.Protocol) -> None:
        """Tells the protocol it is connected and starts reading."""
        super().__init__()
        self._stream = stream
        self._protocol = protocol
        self._pending = 0  # bytes written to the stream and not yet sent
        self._last_write: asyncio.Future[None] | None = None
        self._paused = False
        self._closing = False
        self._lost = False
        protocol.connection_made(self)
        self._reader = asyncio.ensure_future(self._read())

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._stream.socket
        if name == "peername":
            return self._stream.socket.getpeername()
        return default

    def is_closing(self) -> bool:
        return self._closing or self._stream.closed()

    def get_write_buffer_size(self) -> int:
        return self._pending

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.is_closing():
            return
        size = len(data)
        try:
            written = self._stream.write(bytes(data))
        except StreamClosedError:
            return  # the reading task tells the protocol
        self._pending += size
        self._last_write = written
        written.add_done_callback(lambda future: self._sent(future, size))
        if not self._paused and self._pending > HIGH_WATER:
            self._paused = True
            self._protocol.pause_writing()

    def _sent(self, future: asyncio.Future[None], size: int) -> None:
        if not future.cancelled():
            future.exception()  # a closed stream: the reading task tells the protocol
        self._pending -= size
        if self._paused and self._pending <= LOW_WATER and not self._lost:
            self._paused = False
            self._protocol.resume_writing()

    def can_write_eof(self) -> bool:
        return False  # TLS has no half-close (asyncio's own TLS transport says the same)

    def write_eof(self) -> None:
        raise NotImplementedError("no half-close over TLS")

    def close(self) -> None:
        """Close once what was written has been sent."""
        if self._closing:
            return
        self._closing = True
        last = self._last_write
        if last is not None and not last.done():
            last.add_done_callback(lambda _: self._stream.close())
        else:
            self._stream.close()

    def abort(self) -> None:
        self._closing = True
        self._stream.close()

    async def _read(self) -> None:
        error: BaseException | None = None
        try:
            while True:
                data = await self._stream.read_bytes(READ_CHUNK, partial=True)
                self._protocol.data_received(data)
        except StreamClosedError as exc:
            error = exc.real_error
            if error is None and not self._closing:
                self._protocol.eof_received()
        except Exception as exc:  # a bug in the protocol must not leave the socket open
            log.exception("a TLS WebSocket failed")
            error = exc
        finally:
            self._closing = self._lost = True
            self._stream.close()
            self._protocol.connection_lost(error if isinstance(error, Exception) else None)
