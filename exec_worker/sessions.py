"""The exec session: one docker exec under a tty, from open to the end of its processes.

A session outlives connections. Its owner (read-write) and any number of watchers
(read-only) are attachments, each with its own position in the output. Output goes
into a bounded ring first, then to every attachment as its flow-control window
allows, so a connection that drops can resume from the offset it had, and a slow
watcher skips ahead rather than holding the session back.

While the owner is attached, the session reads the exec's output only while the
owner has less than `window` bytes unacknowledged: the kernel buffers fill and the
program in the container is slowed, nothing is dropped. Without an owner it reads
freely into the ring, for `grace` seconds, waiting for the owner to come back.

Ending a session ends its processes (teardown.py): on close, after the grace
period, or after `idle_timeout` seconds without keystrokes (with a warning first).

Concurrency: everything here runs on the worker's one event loop; a session holds
no thread, and Docker and /proc calls run off the loop.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any

from exec_worker import exits, teardown
from exec_worker.commands import exec_command, start_failure
from exec_worker.docker_exec import DockerHost
from exec_worker.exec_stream import ExecStream
from exec_worker.idle import IdleClock
from exec_worker.metrics import BYTES
from exec_worker.recording import Recorder
from exec_worker.recordings import Recordings, header_for
from exec_worker.ring import OutputRing
from shared.config import WorkerConfig, ack_step
from shared.errors import Conflict, DtermError, Forbidden, NotFound, ProtocolError, TooLarge
from shared.messages import (
    ContainerInfo,
    Detached,
    ExitReason,
    Failed,
    IdleWarning,
    Message,
    Mode,
    OpenSession,
    Output,
    SessionExited,
    SessionInfo,
    SessionOpened,
    SessionResized,
    WatcherInfo,
    WatchersChanged,
)
from shared.process import SessionLog

log = logging.getLogger(__name__)

Emit = Callable[[Message], None]

_SAID_BYTES = 1024  # first output bytes kept to explain a failed start


class State(Enum):
    STARTING = "starting"
    RUNNING = "running"
    ENDING = "ending"
    ENDED = "ended"


@dataclass(eq=False)
class Attachment:
    """One connection taking part in a session, through one front end."""

    id: str
    peer: bytes
    person: str
    mode: Mode
    emit: Emit
    since: float
    sent: int = 0
    acked: int = 0


class ExecSession:
    """One terminal: a tty exec in one container, owned by one person."""

    def __init__(
        self,
        session_id: str,
        person: str,
        docker: DockerHost,
        config: WorkerConfig,
        recordings: Recordings,
    ) -> None:
        self.id = session_id
        self.person = person
        self.state = State.STARTING
        self.container = ""
        self.container_name = ""
        self.run_as = ""
        self.address = ""
        self.command: list[str] = []
        self.bytes_in = 0
        self.watched_by: set[str] = set()
        self.exit: tuple[int | None, ExitReason] | None = None
        self.recorder: Recorder | None = None
        self._recordings = recordings
        self.started = time.time()
        self.size = (80, 24)
        self.watch_token = secrets.token_urlsafe(16)
        self.owner: Attachment | None = None
        self.watchers: dict[str, Attachment] = {}
        self.ring = OutputRing(max(config.ring_bytes, config.window))
        self._docker = docker
        self._config = config
        self._cmd: list[str] | None = None
        self._workdir: str | None = None
        self._exec_id = ""
        self._stream: ExecStream | None = None
        self._transport: asyncio.Transport | None = None
        self._paused = False
        self._said = bytearray()
        self._pending_input: list[bytes] = []
        self._pending_bytes = 0
        self._close: tuple[ExitReason, str] | None = None
        self._want_size: tuple[int, int] | None = None
        self._resize_on_output = False  # resized before the shell chooser printed anything
        self._process: teardown.ProcessRef | None = None
        self._grace: asyncio.TimerHandle | None = None
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._ended = asyncio.Event()
        self.log = SessionLog(log, session_id)
        self._idle = IdleClock(
            config.idle_timeout, config.idle_warning, self._warn_idle, self._expire_idle
        )

    def attachments(self) -> list[Attachment]:
        return [self.owner, *self.watchers.values()] if self.owner else [*self.watchers.values()]

    def info(self) -> SessionInfo:
        return SessionInfo(
            self.id, self.container_name, self._cmd, self.run_as or None, self._workdir,
            self.person, int(self.started), self.owner is not None, len(self.watchers),
        )  # fmt: skip

    def audit_fields(self) -> dict[str, Any]:
        """Who did what, for the audit log; with the outcome once the session ended."""
        fields: dict[str, Any] = {
            "session": self.id,
            "person": self.person,
            "address": self.address,
            "container": self.container_name,
            "container_id": self.container,
            "command": self.command,
            "run_as": self.run_as or None,
            "started": int(self.started),
            "recording": [p.name for p in self.recorder.paths] if self.recorder else [],
        }
        if self.exit is not None:
            fields.update(
                exit_code=self.exit[0],
                reason=self.exit[1].value,
                duration=round(time.time() - self.started, 3),
                bytes_in=self.bytes_in,
                bytes_out=self.ring.end,
                watchers=sorted(self.watched_by),
            )
        return fields

    def _task(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        self._tasks[name] = asyncio.create_task(work, name=f"{name} {self.id}")

    # --- lifecycle ---------------------------------------------------------------

    async def open(self, request: OpenSession, owner: Attachment, container: ContainerInfo) -> None:
        """Create and start the exec; the owner gets SessionOpened. Raises DtermError."""
        self.container, self.container_name, self._cmd = container.id, container.name, request.cmd
        self._workdir = request.workdir
        self.run_as, self.address = request.user or "", request.address
        self.size = self._want_size or (request.cols, request.rows)  # resized meanwhile?
        self._want_size = None
        self.command = exec_command(request.cmd, *self.size)
        header = header_for(self.id, self._config.host_id, container.id, container.name,
                            self.person, self.run_as, request.cmd, *self.size)  # fmt: skip
        self.recorder = self._recordings.open(header, request.recording, request.record_input)
        try:
            self._exec_id = await self._docker.create_exec(
                container.id, self.command, request.user, request.workdir, self._config.detach_keys
            )
            stream = ExecStream(self._docker.read_buffer)
            self._transport = await self._docker.start_exec(self._exec_id, *self.size, stream)
        except BaseException:
            if self.recorder is not None:
                self.recorder.close(None, "not started")
            raise
        self._stream, self.state, self.owner = stream, State.RUNNING, owner
        self.log.info(
            "exec %.12s in %s for %s",
            self._exec_id,
            container.name,
            self.person,
        )
        owner.emit(self._opened(owner, 0))
        self._flush_pending_input()
        stream.attach(self._on_output, self._on_stream_closed)
        self._update_flow()
        if self._want_size is not None or not self._docker.supports_console_size:
            self._request_resize(*self.size)
        self._task("find-process", self._find_process())
        self._idle.start()
        if self._close is not None:
            self.close(*self._close)

    def attach(self, attachment: Attachment, offset: int, token: str) -> None:
        """Join from `offset`: the owner takes over any earlier connection of theirs."""
        if self.state is not State.RUNNING:
            raise Conflict(f"session {self.id} is {self.state.value}")
        if offset > self.ring.end:
            raise ProtocolError(f"offset {offset} is beyond the {self.ring.end} bytes produced")
        if attachment.mode is Mode.RW:
            self._take_over(attachment)
        elif attachment.person == self.person or hmac.compare_digest(token, self.watch_token):
            self.watchers[attachment.id] = attachment
            self.watched_by.add(attachment.person)
        else:
            raise Forbidden("watching needs the session's watch link")
        start = max(offset, self.ring.start)
        attachment.sent = attachment.acked = start
        attachment.emit(self._opened(attachment, start - offset))
        self.log.info(
            "%s attached %s from %d (%d skipped)",
            attachment.person,
            attachment.mode.value,
            start,
            start - offset,
        )
        self._pump(attachment)
        self._update_flow()
        self._tell_watchers()

    def _take_over(self, attachment: Attachment) -> None:
        if attachment.person != self.person:
            raise Forbidden("only the session's owner may attach read-write")
        if self.owner is not None:
            self.owner.emit(Detached(self.owner.id, "the session was resumed elsewhere"))
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self.owner = attachment

    def _opened(self, attachment: Attachment, skipped: int) -> SessionOpened:
        owner = attachment.mode is Mode.RW
        return SessionOpened(
            attachment.id,
            self.id,
            self.container_name,
            attachment.mode,
            self._config.window,
            attachment.sent,
            skipped,
            *self.size,
            self.watch_token if owner else "",
        )

    def detach(self, attachment_id: str) -> None:
        """A connection is gone; without its owner the session waits `grace` seconds."""
        if self.owner is not None and self.owner.id == attachment_id:
            self.owner = None
            if self.state is State.RUNNING:
                self.log.info("owner detached; %ss to resume", self._config.grace)
                self._grace = asyncio.get_running_loop().call_later(
                    self._config.grace, self.close, ExitReason.CLOSED, "nobody resumed it in time"
                )
            self._update_flow()
        elif self.watchers.pop(attachment_id, None) is not None:
            self._tell_watchers()

    def close(self, reason: ExitReason = ExitReason.CLOSED, message: str = "") -> None:
        """End the session and its processes; SessionExited follows once they are gone."""
        if self._close is None:
            self._close = (reason, message)
        if self.state is State.RUNNING:
            self.state = State.ENDING
            self._idle.stop()
            self._task("end", self._end_processes())

    async def wait_ended(self) -> None:
        await self._ended.wait()

    # --- output and flow control ----------------------------------------------------

    def _on_output(self, data: bytes) -> None:
        """Bytes go to the browsers first: recording them is not on the keystroke path."""
        if self._resize_on_output:
            self._resize_on_output = False
            self._request_resize(*self.size)
        start = self.ring.end
        self.ring.append(data)
        for attachment in self.attachments():
            self._pump(attachment, start, data)
        self._update_flow()
        BYTES.outbound += len(data)
        if start < _SAID_BYTES:
            self._said += data[: _SAID_BYTES - start]
        if self.recorder is not None:
            self.recorder.output(data)

    def _pump(self, attachment: Attachment, fresh_at: int = -1, fresh: bytes = b"") -> None:
        """Send what the attachment's window allows; bytes that left the ring are skipped.

        A skip moves the attachment's position, not what it has in flight: it waits
        until the client has taken what it was sent (acks come in ack_step units), and
        what is still unacknowledged then counts against the window after the skip.
        So a watcher that falls behind is never sent more than one window."""
        if attachment.sent < self.ring.start:
            in_flight = attachment.sent - attachment.acked
            if in_flight >= ack_step(self._config.window):
                return
            attachment.sent = self.ring.start
            attachment.acked = self.ring.start - in_flight
        end = min(self.ring.end, attachment.acked + self._config.window)
        if end <= attachment.sent:
            return
        if attachment.sent == fresh_at and end == self.ring.end:
            payload = fresh  # the common case: new output, window open; no copy
        else:
            payload = self.ring.read(attachment.sent, end)
        attachment.emit(Output(attachment.id, attachment.sent, payload))
        attachment.sent = end

    def ack(self, attachment_id: str, offset: int) -> None:
        attachment = self._attachment(attachment_id)
        attachment.acked = max(attachment.acked, min(offset, attachment.sent))
        self._pump(attachment)
        if attachment is self.owner:
            self._update_flow()

    def _update_flow(self) -> None:
        if self._stream is None or self._transport is None or self.state is State.ENDED:
            return
        room = ExecStream.CHUNK
        if self.owner is not None:
            room = self._config.window - (self.ring.end - self.owner.acked)
        self._stream.limit = room
        if room <= 0 and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        elif room > 0 and self._paused:
            self._paused = False
            self._transport.resume_reading()

    def _attachment(self, attachment_id: str) -> Attachment:
        if self.owner is not None and self.owner.id == attachment_id:
            return self.owner
        return self.watchers[attachment_id]

    def require_owner(self, attachment_id: str) -> Attachment:
        if self.owner is None or self.owner.id != attachment_id:
            raise Forbidden("this connection only watches the session (read-only)")
        return self.owner

    def _tell_watchers(self) -> None:
        if self.owner is not None:
            watchers = [WatcherInfo(w.person, int(w.since)) for w in self.watchers.values()]
            self.owner.emit(WatchersChanged(self.owner.id, watchers))

    # --- input and resize --------------------------------------------------------

    def write(self, attachment_id: str, data: bytes) -> None:
        """Keystrokes of the owner; TooLarge when the program has stopped reading them."""
        if self.state is not State.STARTING:
            self.require_owner(attachment_id)
        self._idle.touch()
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
        self.bytes_in += len(data)
        BYTES.inbound += len(data)
        if self.recorder is not None:
            self.recorder.input(data)

    def _flush_pending_input(self) -> None:
        assert self._transport is not None
        if self._pending_input:
            held = b"".join(self._pending_input)
            if self.recorder is not None:
                self.recorder.input(held)
            self._transport.write(held)
            self._pending_input.clear()
            self._pending_bytes = 0

    def resize(self, attachment_id: str, cols: int, rows: int) -> None:
        """The owner's new size: recorded, shown to watchers, given to the exec (once
        it is started, for a resize that comes while it starts)."""
        if self.state is not State.STARTING:
            self.require_owner(attachment_id)
        self._idle.touch()
        self.size = (cols, rows)
        if self.command and self._cmd is None and self.ring.end == 0:
            self._resize_on_output = True  # the shell chooser's `stty` may not have run yet
        if self.recorder is not None:
            self.recorder.resize(cols, rows)
        for watcher in self.watchers.values():
            watcher.emit(SessionResized(watcher.id, cols, rows))
        self._request_resize(cols, rows)

    def _request_resize(self, cols: int, rows: int) -> None:
        """Bursts collapse into one Docker call with the latest size."""
        self._want_size = (cols, rows)
        resizer = self._tasks.get("resize")
        if self._exec_id and (resizer is None or resizer.done()):
            self._task("resize", self._apply_resizes())

    async def _apply_resizes(self) -> None:
        while self._want_size is not None and self.state is State.RUNNING:
            cols, rows = self._want_size
            self._want_size = None
            try:
                await self._docker.resize_exec(self._exec_id, cols, rows)
            except DtermError as exc:
                # Docker answers 500 once the exec has exited: the session is over.
                self.log.debug("resize not applied: %s", exc)
                return

    # --- idleness ----------------------------------------------------------------------

    def _warn_idle(self, seconds: int) -> None:
        self.log.info("idle; ends in %d s", seconds)
        for attachment in self.attachments():
            attachment.emit(IdleWarning(attachment.id, seconds))

    def _expire_idle(self) -> None:
        self.close(ExitReason.IDLE, f"no keystrokes for {self._config.idle_timeout:g} s")

    async def working_directory(self) -> str:
        """Where the session's shell is now (inside the container)."""
        finder = self._tasks.get("find-process")
        if finder is not None:
            await asyncio.wait({finder})  # a shell started a moment ago: Docker tells its PID
        if self._process is None:
            raise NotFound("the shell's directory is unknown: this worker cannot see its process")
        try:
            return await asyncio.to_thread(os.readlink, f"/proc/{self._process.pid}/cwd")
        except OSError:
            raise NotFound("the session's shell has ended") from None

    # --- the end -------------------------------------------------------------------

    async def _find_process(self) -> None:
        self._process = await exits.find_process(self._docker, self._exec_id, self.log)

    async def _end_processes(self) -> None:
        finder = self._tasks.get("find-process")
        if finder is not None:
            await asyncio.gather(finder, return_exceptions=True)
        if self._process is not None:
            await exits.end_processes(self._process, self._config.kill_grace, self.log)
        if self._transport is not None:
            self._transport.close()

    def _on_stream_closed(self) -> None:
        if self.state is State.RUNNING:
            self.state = State.ENDING
        self._task("finish", self._finish())

    async def _finish(self) -> None:
        ender = self._tasks.get("end")
        if ender is not None:
            try:
                await ender
            except Exception:
                self.log.exception("ending its processes failed")
        try:
            code, reason, message = await self._exit_status()
        except Exception as exc:  # the exit must be reported whatever went wrong
            self.log.warning("exit status unknown: %r", exc)
            code, reason, message = None, ExitReason.EXITED, ""
        for attachment in self.attachments():
            attachment.emit(SessionExited(attachment.id, code, reason, message))
        self.exit = (code, reason)
        if self.recorder is not None:
            self.recorder.close(code, reason.value)
        self.state = State.ENDED
        self._idle.stop()
        if self._grace is not None:
            self._grace.cancel()
        self._ended.set()
        self.log.info("ended (%s, code %s)", reason.value, code)

    async def _exit_status(self) -> tuple[int | None, ExitReason, str]:
        state = await exits.settled_state(self._docker, self._exec_id, self._close is not None)
        if self._close is not None:
            return (None if state.running else state.exit_code), *self._close
        failure = start_failure(self._cmd, state.pid, state.exit_code, bytes(self._said))
        if failure is not None:
            for attachment in self.attachments():
                attachment.emit(Failed(attachment.id, failure.code, str(failure)))
            return state.exit_code, ExitReason.EXITED, str(failure)
        if await exits.container_stopped(self._docker, self.container, state.exit_code):
            return state.exit_code, ExitReason.CONTAINER_STOPPED, ""
        return state.exit_code, ExitReason.EXITED, ""
