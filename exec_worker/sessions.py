"""The exec session: one docker exec under a tty, from open to exit.

A session owns its stream connection, its flow-control window and its end. Output
is read straight from the stream's callbacks and emitted as Output messages; when
the client has `window` bytes unacknowledged the session stops reading, so the
kernel buffers fill and the process in the container is slowed, and nothing is
dropped. Keystrokes are written to the stream without waiting. Control calls
(create, resize, inspect) go through DockerHost, off the loop.

Concurrency: everything here runs on the worker's one event loop; a session
holds no thread and at most one helper task at a time per concern (resize, end).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from enum import Enum

from exec_worker.commands import exec_command, start_failure
from exec_worker.docker_exec import DockerHost, ExecState, ExecStream
from shared.config import WorkerConfig
from shared.errors import DtermError, TooLarge
from shared.protocol import (
    ExitReason,
    Failed,
    Message,
    OpenSession,
    Output,
    SessionExited,
    SessionOpened,
)

log = logging.getLogger(__name__)

Emit = Callable[[Message], None]

_SAID_BYTES = 1024  # first output bytes kept to explain a failed start
_EXIT_POLL = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8)


class State(Enum):
    STARTING = "starting"
    RUNNING = "running"
    ENDING = "ending"
    ENDED = "ended"


class ExecSession:
    """One terminal: a tty exec in one container, owned by one front-end peer."""

    def __init__(
        self, session_id: str, emit: Emit, docker: DockerHost, config: WorkerConfig
    ) -> None:
        self.id = session_id
        self.state = State.STARTING
        self._emit = emit
        self._docker = docker
        self._config = config
        self._request: OpenSession | None = None
        self._exec_id = ""
        self._stream: ExecStream | None = None
        self._transport: asyncio.Transport | None = None
        self._offset = 0
        self._acked = 0
        self._paused = False
        self._said = bytearray()
        self._pending_input: list[bytes] = []
        self._pending_bytes = 0
        self._close_reason: ExitReason | None = None
        self._want_size: tuple[int, int] | None = None
        self._resizer: asyncio.Task[None] | None = None
        self._finisher: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()

    # --- lifecycle ---------------------------------------------------------------

    async def open(self, request: OpenSession) -> None:
        """Create and start the exec, then emit SessionOpened; raises DtermError."""
        self._request = request
        argv = exec_command(request.cmd, request.cols, request.rows)
        self._exec_id = await self._docker.create_exec(
            request.container, argv, request.user, self._config.detach_keys
        )
        stream = ExecStream()
        self._transport = await self._docker.start_exec(
            self._exec_id, request.cols, request.rows, stream
        )
        self._stream = stream
        self.state = State.RUNNING
        log.info("session %s: started exec %.12s in %s", self.id, self._exec_id, request.container)
        self._emit(SessionOpened(self.id, request.container, self._config.window, 0))
        self._flush_pending_input()
        stream.attach(self._on_output, self._on_stream_closed)
        if not self._docker.supports_console_size:
            self.resize(request.cols, request.rows)
        if self._close_reason is not None:
            self.close(self._close_reason)

    def close(self, reason: ExitReason = ExitReason.CLOSED) -> None:
        """End the session; its SessionExited follows once the stream is down."""
        if self._close_reason is None:
            self._close_reason = reason
        if self.state is State.RUNNING and self._transport is not None:
            self.state = State.ENDING
            self._transport.close()
        elif self.state is State.STARTING:
            log.debug("session %s: close while starting; ends after start", self.id)

    async def wait_ended(self) -> None:
        await self._ended.wait()

    # --- output and flow control ----------------------------------------------------

    def _on_output(self, data: bytes) -> None:
        offset = self._offset
        self._offset = offset + len(data)
        if offset < _SAID_BYTES:
            self._said += data[: _SAID_BYTES - offset]
        self._emit(Output(self.id, offset, data))
        self._update_flow()

    def ack(self, offset: int) -> None:
        """The client consumed output up to `offset`; acks beyond what was sent count as all."""
        self._acked = max(self._acked, min(offset, self._offset))
        self._update_flow()

    def _update_flow(self) -> None:
        if self._stream is None or self._transport is None:
            return
        room = self._config.window - (self._offset - self._acked)
        self._stream.limit = room
        if room <= 0 and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        elif room > 0 and self._paused:
            self._paused = False
            self._transport.resume_reading()

    # --- input and resize --------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send keystrokes; raises TooLarge when the process has stopped reading them."""
        limit = self._config.max_pending_input
        if self._transport is None:
            if self._pending_bytes + len(data) > limit:
                raise TooLarge(f"more than {limit} bytes of input before the session started")
            self._pending_input.append(data)
            self._pending_bytes += len(data)
            return
        if self.state is not State.RUNNING:
            return
        if self._transport.get_write_buffer_size() + len(data) > limit:
            raise TooLarge(f"the program has not read the last {limit} bytes of input")
        self._transport.write(data)

    def _flush_pending_input(self) -> None:
        assert self._transport is not None
        if self._pending_input:
            self._transport.write(b"".join(self._pending_input))
            self._pending_input.clear()
            self._pending_bytes = 0

    def resize(self, cols: int, rows: int) -> None:
        """Ask for a size; bursts collapse into one call with the latest size."""
        self._want_size = (cols, rows)
        if self._exec_id and (self._resizer is None or self._resizer.done()):
            self._resizer = asyncio.create_task(self._apply_resizes())

    async def _apply_resizes(self) -> None:
        while self._want_size is not None and self.state is State.RUNNING:
            cols, rows = self._want_size
            self._want_size = None
            try:
                await self._docker.resize_exec(self._exec_id, cols, rows)
            except DtermError as exc:
                # Docker answers 500 once the exec has exited: the session is over.
                log.debug("session %s: resize not applied: %s", self.id, exc)
                return

    # --- the end -------------------------------------------------------------------

    def _on_stream_closed(self) -> None:
        if self.state is State.RUNNING:
            self.state = State.ENDING
        self._finisher = asyncio.create_task(self._finish())

    async def _finish(self) -> None:
        try:
            code, reason = await self._exit_status()
        except Exception as exc:  # the exit must be reported whatever went wrong
            log.warning("session %s: exit status unknown: %r", self.id, exc)
            code, reason = None, self._close_reason or ExitReason.EXITED
        self._emit(SessionExited(self.id, code, reason))
        self.state = State.ENDED
        self._ended.set()
        log.info("session %s: ended (%s, code %s)", self.id, reason.value, code)

    async def _exit_status(self) -> tuple[int | None, ExitReason]:
        exec_state = await self._settled_exec_state()
        request = self._request
        assert request is not None
        if self._close_reason is not None:
            code = None if exec_state.running else exec_state.exit_code
            return code, self._close_reason
        failure = start_failure(
            request.cmd, exec_state.pid, exec_state.exit_code, bytes(self._said)
        )
        if failure is not None:
            self._emit(Failed(self.id, failure.code, str(failure)))
            return exec_state.exit_code, ExitReason.EXITED
        if await self._container_stopped(request.container, exec_state.exit_code):
            return exec_state.exit_code, ExitReason.CONTAINER_STOPPED
        return exec_state.exit_code, ExitReason.EXITED

    async def _container_stopped(self, container: str, exit_code: int | None) -> bool:
        """Whether the container is down. A process killed by a signal may have died
        with its container, whose state Docker records a moment later: ask again."""
        delays = _EXIT_POLL if exit_code is None or exit_code > 128 else (0.0,)
        for delay in delays:
            await asyncio.sleep(delay)
            if not await self._docker.container_running(container):
                return True
        return False

    async def _settled_exec_state(self) -> ExecState:
        """Exec inspect until Docker has recorded the exit (it usually has at once)."""
        state = await self._docker.inspect_exec(self._exec_id)
        for delay in _EXIT_POLL:
            if not state.running or self._close_reason is not None:
                break
            await asyncio.sleep(delay)
            state = await self._docker.inspect_exec(self._exec_id)
        return state
