"""ExecStream: the connection of one exec start, from the HTTP answer to raw bytes.

The Docker SDK's hijacked socket blocks, and its buffered reader can swallow bytes
that arrive together with the `101 UPGRADED` head. This protocol reads the head
itself on a non-blocking connection, then hands every later byte on, in order.

Concurrency: an asyncio protocol; its callbacks run on the worker's loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from shared.errors import DtermError, NotFound, NotRunning, StartFailed, Unavailable

MAX_RESPONSE_HEAD = 64 * 1024


class ExecStream(asyncio.BufferedProtocol):
    """The exec start connection: parses the HTTP head, then hands raw bytes on.

    Reads go into one reusable buffer of at most `limit` bytes, which the session
    sets to the room left in its flow-control window, so no read overshoots it.
    Bytes that arrive before a consumer is attached are held and handed over on
    `attach`, so nothing read together with the head is lost or reordered.
    `write_paused` is true while the transport's write buffer is over its high-water
    mark (the program does not read its stdin fast enough); `on_writable` is called
    when it drains again.
    """

    CHUNK = 64 * 1024

    def __init__(self, buffer: memoryview | None = None) -> None:
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.limit = self.CHUNK
        # Reads are copied out at once, so every stream of a worker can share one buffer.
        self._buffer = buffer if buffer is not None else memoryview(bytearray(self.CHUNK))
        self._head = bytearray()
        self._early: list[bytes] = []
        self._on_data: Callable[[bytes], None] | None = None
        self._on_closed: Callable[[], None] | None = None
        self._closed = False
        self.write_paused = False
        self.on_writable: Callable[[], None] | None = None

    def attach(self, on_data: Callable[[bytes], None], on_closed: Callable[[], None]) -> None:
        self._on_data, self._on_closed = on_data, on_closed
        early, self._early = self._early, []
        for chunk in early:
            on_data(chunk)
        if self._closed:
            on_closed()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer[: max(1, min(self.limit, self.CHUNK))]

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self._buffer[:nbytes])
        if self._on_data is not None:
            self._on_data(data)
        elif self.upgraded.done():
            self._early.append(data)
        else:
            self._read_head(data)

    def _read_head(self, data: bytes) -> None:
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_RESPONSE_HEAD:
                self.upgraded.set_exception(Unavailable("Docker sent an oversized response head"))
            return
        status_line = bytes(self._head[: self._head.find(b"\r\n")]).decode("latin-1")
        rest = bytes(self._head[end + 4 :])
        code = [*status_line.split(" ", 2), ""][1]
        status = int(code) if code.isascii() and code.isdigit() else 0
        if status in (101, 200):
            self._head.clear()
            self.upgraded.set_result(None)
            if rest:
                self._early.append(rest)
        else:
            self._fail(status, rest)

    def _fail(self, status: int, body: bytes) -> None:
        try:
            message = str(json.loads(body)["message"])
        except (ValueError, KeyError, TypeError):
            message = f"exec start answered HTTP {status}"
        error: DtermError
        if status == 404:
            error = NotFound(message)
        elif status == 409:
            error = NotRunning(message)
        else:
            error = StartFailed(message)
        self.upgraded.set_exception(error)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.on_writable is not None:
            self.on_writable()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if not self.upgraded.done():
            self.upgraded.set_exception(Unavailable(f"Docker closed the exec connection: {exc}"))
        elif self._on_closed is not None:
            self._on_closed()
