"""ExecPipe: a program run without a tty; stdout and stderr apart, stdin with an end.

It rides the same non-blocking exec connection as a session (ExecStream), and
multiplex.Demux takes Docker's frames apart on the loop: no thread per exec. Bytes
are never decoded. Output is pulled (`read`, `read_stdout`); the connection is read
only while less than `buffer` bytes wait to be pulled, so a slow reader slows the
program in the container instead of filling memory. Stdin is written with `write`
(`write_paused` says the program is behind; `on_writable` is called when it has
caught up) and ended with `close_stdin`, a half-close of the connection that
Docker passes on as EOF. The exit code comes from exec inspect once the output has
ended (`wait`).

Concurrency: callbacks and coroutines on the worker's loop; Docker control calls
run on its thread pool.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from exec_worker import exec_exit
from exec_worker.docker_exec import DockerHost, ExecState
from exec_worker.exec_stream import ExecStream
from exec_worker.multiplex import Demux, Stream
from shared.errors import DtermError, ProtocolError

BUFFER = 256 * 1024
STDERR_KEPT = 4096
"""Bytes of stderr `read_stdout` keeps (to explain a failure); the rest is dropped."""


class ExecPipe:
    def __init__(
        self,
        docker: DockerHost,
        exec_id: str,
        stream: ExecStream,
        transport: asyncio.Transport,
        buffer: int = BUFFER,
    ) -> None:
        self.exec_id = exec_id
        self.stderr = bytearray()
        self._docker = docker
        self._stream = stream
        self._transport = transport
        self._buffer = buffer
        self._demux = Demux()
        self._pieces: deque[tuple[Stream, bytes]] = deque()
        self._buffered = 0
        self._paused = False
        self._more = asyncio.Event()
        self._ended = asyncio.Event()
        self._error: DtermError | None = None
        self.on_end: Callable[[], None] | None = None
        """Called once the output has ended (the program is gone or the link dropped)."""
        stream.attach(self._on_data, self._on_closed)

    @classmethod
    async def start(
        cls,
        docker: DockerHost,
        container: str,
        cmd: list[str],
        user: str,
        stdin: bool = False,
        environment: dict[str, str] | None = None,
    ) -> ExecPipe:
        exec_id = await docker.create_plain_exec(container, cmd, user, stdin, environment or {})
        stream = ExecStream(docker.read_buffer)
        transport = await docker.start_plain_exec(exec_id, stream)
        return cls(docker, exec_id, stream, transport)

    # --- output ------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        try:
            pieces = self._demux.feed(data)
        except ProtocolError as exc:
            self._error = exc
            self._transport.close()
            return
        for stream, piece in pieces:
            self._pieces.append((stream, piece))
            self._buffered += len(piece)
        if self._buffered >= self._buffer and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._more.set()

    def _on_closed(self) -> None:
        if not self._demux.between_frames and self._error is None:
            self._error = ProtocolError("the exec's stream ended in the middle of a frame")
        self._ended.set()
        self._more.set()
        if self.on_end is not None:
            self.on_end()

    async def read(self) -> tuple[Stream, bytes] | None:
        """The next piece of output, of either stream, in order; None at the end."""
        while not self._pieces:
            if self._ended.is_set():
                if self._error is not None:
                    raise self._error
                return None
            self._more.clear()
            await self._more.wait()
        stream, piece = self._pieces.popleft()
        self._buffered -= len(piece)
        if self._paused and self._buffered < self._buffer:
            self._paused = False
            self._transport.resume_reading()
        return stream, piece

    async def read_stdout(self) -> bytes:
        """The next stdout bytes, b"" at the end; stderr read meanwhile goes to `stderr`
        (its first STDERR_KEPT bytes)."""
        while (piece := await self.read()) is not None:
            stream, data = piece
            if stream is Stream.STDOUT:
                return data
            self.stderr += data[: STDERR_KEPT - len(self.stderr)]
        return b""

    # --- input -------------------------------------------------------------------------

    @property
    def write_paused(self) -> bool:
        return self._stream.write_paused

    @property
    def on_writable(self) -> Callable[[], None] | None:
        return self._stream.on_writable

    @on_writable.setter
    def on_writable(self, callback: Callable[[], None] | None) -> None:
        self._stream.on_writable = callback

    def write(self, data: bytes) -> None:
        """Bytes for the program's stdin (dropped once the exec has ended)."""
        if not self._ended.is_set():
            self._transport.write(data)

    def close_stdin(self) -> None:
        """The program reads EOF once what was written before has reached it."""
        if not self._ended.is_set() and self._transport.can_write_eof():
            self._transport.write_eof()

    # --- the end -----------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    async def wait(self) -> ExecState:
        """Once the output has ended: how the program ended, as Docker recorded it."""
        await self._ended.wait()
        return await exec_exit.settled_state(self._docker, self.exec_id, closing=False)

    def close(self) -> None:
        """Drop the connection: the program's stdin ends, its further output is lost."""
        self._transport.close()
