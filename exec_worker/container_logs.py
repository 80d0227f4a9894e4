"""LogPipe: one container's logs, read from Docker on a non-blocking connection.

Docker's logs endpoint streams for as long as the container runs when asked to
follow. The SDK would read it with a blocking generator, a thread per follower;
instead the request goes out on a connection of the worker's loop (HTTP/1.0, so
the body is not chunked and ends when the connection does) and ExecStream hands the
bytes on. Containers without a tty send Docker's multiplexed frames, which Demux
takes apart (stdout and stderr pieces kept in the order they came); with a tty the
bytes come raw. Bytes are never decoded.

The connection is read only while less than `buffer` bytes wait to be pulled, so a
slow reader pauses it: memory per stream is bounded, and the container never waits
(Docker reads its log file, not the container's output, for a follower).

Concurrency: callbacks and coroutines on the worker's loop.
"""

from __future__ import annotations

import asyncio
from collections import deque

from exec_worker.docker_exec import DockerHost
from exec_worker.exec_stream import ExecStream
from exec_worker.multiplex import Demux
from shared.errors import DtermError, ProtocolError

BUFFER = 256 * 1024


class LogPipe:
    def __init__(
        self, stream: ExecStream, transport: asyncio.Transport, tty: bool, buffer: int = BUFFER
    ) -> None:
        self._transport = transport
        self._demux = None if tty else Demux()
        self._buffer = buffer
        self._pieces: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._more = asyncio.Event()
        self._ended = False
        self._error: DtermError | None = None
        stream.attach(self._on_data, self._on_closed)

    @classmethod
    async def open(
        cls, docker: DockerHost, container: str, tail: int, since: int, follow: bool
    ) -> LogPipe:
        """The logs of a container (by full id) as Docker keeps them."""
        tty = await docker.has_tty(container)
        stream = ExecStream(docker.read_buffer)
        transport = await docker.open_logs(container, tail, since, follow, stream)
        return cls(stream, transport, tty)

    def _on_data(self, data: bytes) -> None:
        if self._demux is None:
            pieces = [data]
        else:
            try:
                pieces = [piece for _, piece in self._demux.feed(data)]
            except ProtocolError as exc:
                self._error = exc
                self._transport.close()
                return
        self._pieces.extend(pieces)
        self._buffered += sum(len(p) for p in pieces)
        if self._buffered >= self._buffer and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._more.set()

    def _on_closed(self) -> None:
        self._ended = True
        self._more.set()

    async def read(self) -> bytes:
        """The next bytes of the logs, in order; b"" at the end."""
        while not self._pieces:
            if self._ended:
                if self._error is not None:
                    raise self._error
                return b""
            self._more.clear()
            await self._more.wait()
        piece = self._pieces.popleft()
        self._buffered -= len(piece)
        if self._paused and self._buffered < self._buffer:
            self._paused = False
            self._transport.resume_reading()
        return piece

    def close(self) -> None:
        self._transport.close()
