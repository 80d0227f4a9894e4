"""ExecSession: one docker exec, the I/O around its lifecycle and fan-out.

What may happen when is decided by the pure SessionLifecycle (lifecycle.py); who is
sent which output, and how much the session may read, by the pure OutputFanOut
(fanout.py). This module does what they decide: it starts the exec, reads its
stream on the loop, writes keystrokes, resizes, and tells everyone attached.
Ending the processes from /proc and asking how the program ended is session_end.py's
part, handing the session to a successor process session_handover.py's; both are
mixed into ExecSession. Its attachments and host are declared in session_parties.py.

A session outlives connections. Its owner (read-write) and any number of watchers
(read-only) are attachments. While the owner is attached the program is held once
the owner has a window unacknowledged; while nobody owns it, once the ring holds all
the owner has not seen (for `grace` seconds, then it is ended). An ended session is
kept for `grace` seconds more with its output and exit, so a connection that comes
back after the end still gets both.

A session runs under a tty unless opened without one: then its output is Docker's
multiplexed stream, passed on unchanged (plain_output.py says what the worker itself
reads of it), its input may end (`end_input`), and resizes are ignored. Input is
acknowledged as the program takes it (input_credit.py).

Concurrency: everything here runs on the worker's one event loop; a session holds
no thread, and Docker and /proc calls run off the loop, each with a deadline.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

from exec_worker import plain_output
from exec_worker.asciicast import Recorder
from exec_worker.commands import exec_command
from exec_worker.docker_exec import DockerHost
from exec_worker.exec_stream import ExecStream
from exec_worker.fanout import OutputFanOut, Send
from exec_worker.idle import IdleClock
from exec_worker.input_credit import InputCredit
from exec_worker.keystrokes import ProgramInput
from exec_worker.leftovers import ProcessRecords
from exec_worker.lifecycle import Do, Input, Phase, SessionLifecycle
from exec_worker.metrics import BYTES
from exec_worker.process_index import ProcessIndex
from exec_worker.recording_service import Recordings, header_for
from exec_worker.resizer import ExecResizer
from exec_worker.session_end import SessionEnd
from exec_worker.session_handover import SessionHandover
from exec_worker.session_parties import Attachment, SessionHost
from exec_worker.session_processes import SessionProcesses
from shared.errors import DtermError, Forbidden, ProtocolError, Unavailable
from shared.messages import (
    ContainerInfo,
    Detached,
    ExitReason,
    Failed,
    IdleWarning,
    InputAck,
    Mode,
    OpenSession,
    Output,
    SessionInfo,
    SessionOpened,
    SessionResized,
    WatcherInfo,
    WatchersChanged,
)
from shared.process import SessionLog
from shared.settings import WorkerConfig, ack_step

log = logging.getLogger(__name__)

_SAID_BYTES = 1024  # first output bytes kept to explain a failed start
START_TIMEOUT = 15.0
"""Seconds Docker has to answer an exec start."""


class ExecSession(SessionHandover, SessionEnd):
    """One terminal: a tty exec in one container, owned by one person."""

    def __init__(
        self,
        session_id: str,
        owner: Attachment,
        docker: DockerHost,
        config: WorkerConfig,
        recordings: Recordings,
        host: SessionHost,
        records: ProcessRecords,
        processes: ProcessIndex,
    ) -> None:
        self.id = session_id
        self.person = owner.person
        self.lifecycle = SessionLifecycle()
        self.fanout = OutputFanOut(config.window, config.ring_bytes)
        self.owner: Attachment | None = owner
        self.watchers: dict[str, Attachment] = {}
        self.container = self.container_name = self.run_as = self.address = ""
        self.command: list[str] = []
        self.watched_by: set[str] = set()
        self.exit: tuple[int | None, ExitReason, str] | None = None
        self.recorder: Recorder | None = None
        self._record_output: Callable[[bytes], None] | None = None
        self.tty = True
        self.started = time.time()
        self.size = (80, 24)
        self.watch_token = secrets.token_urlsafe(16)
        self.log = SessionLog(log, session_id)
        self._docker, self._config, self._recordings = docker, config, recordings
        self._host = host
        self.processes = SessionProcesses(session_id, docker, processes, records, self.log)
        self.resizer = ExecResizer(docker, lambda: self.phase is Phase.RUNNING, self.log)
        self.input = ProgramInput(config.max_pending_input, self._record_input)
        self._cmd: list[str] | None = None
        self._workdir: str | None = None
        self._stream: ExecStream | None = None
        self._transport: asyncio.Transport | None = None
        self._paused = False
        self._said = bytearray()
        self._credit = InputCredit(ack_step(config.window))
        self._failure: DtermError | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._told_exit: set[str] = set()
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._ended = asyncio.Event()
        self.frozen = False
        self._pending_effects: list[Do] = []
        self._demux: plain_output.DemuxedRecording | None = None
        self._idle = IdleClock(
            config.idle_timeout, config.idle_warning, self._warn_idle, self._expire_idle
        )

    @property
    def phase(self) -> Phase:
        return self.lifecycle.phase

    def attachments(self) -> list[Attachment]:
        return [self.owner, *self.watchers.values()] if self.owner else [*self.watchers.values()]

    def info(self) -> SessionInfo:
        return SessionInfo(
            session=self.id, container=self.container_name, cmd=self._cmd,
            user=self.run_as or None, workdir=self._workdir, person=self.person,
            started=int(self.started), attached=self.owner is not None,
            watchers=len(self.watchers), tty=self.tty,
        )  # fmt: skip

    def _task(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        self._tasks[name] = asyncio.create_task(work, name=f"{name} {self.id}")

    async def wait_ended(self) -> None:
        await self._ended.wait()

    # --- effects ----------------------------------------------------------------------

    def _apply(self, effects: list[Do]) -> None:
        for effect in effects:
            match effect:
                case Do.ABORT_START:
                    pass  # start() looks at lifecycle.ending after each step
                case Do.END_PROCESSES:
                    if "end" not in self._tasks:
                        self._task("end", self._end_processes())
                case Do.FIND_EXIT:
                    self._task("exit", self._find_exit())
                case Do.REPORT_EXIT:
                    self._report_exit()
                case Do.FAIL_OPEN:
                    self._fail_open()
                case Do.WAIT_FOR_OWNER | Do.KEEP:
                    self._set_timer(self._config.grace)
                case Do.STOP_WAITING:
                    self._set_timer(None)
                case Do.FORGET:
                    self._forget()

    def _set_timer(self, seconds: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if seconds is not None:
            self._timer = asyncio.get_running_loop().call_later(seconds, self._grace_over)

    def _grace_over(self) -> None:
        self._timer = None
        if self.frozen:  # being handed over: the successor's clock takes it from here
            self._set_timer(1.0)
            return
        self._apply(self.lifecycle.grace_over())

    # --- starting -----------------------------------------------------------------------

    async def start(self, request: OpenSession, container: ContainerInfo) -> None:
        """Create and start the exec; the owner gets SessionOpened or Failed."""
        self.container, self.container_name, self._cmd = container.id, container.name, request.cmd
        self._workdir = request.workdir
        self.run_as, self.address, self.tty = request.user or "", request.address, request.tty
        self.size = self.resizer.take_wanted() or (request.cols, request.rows)
        self.command = exec_command(request.cmd, *self.size)
        header = header_for(self.id, self._config.host_id, container.id, container.name,
                            self.person, self.run_as, request.cmd, *self.size,
                            tty=self.tty)  # fmt: skip
        try:
            self.recorder = self._recordings.open(header, request.recording, request.record_input)
            if self.recorder is not None:
                plain = not self.tty  # record what the programs wrote, not Docker's frames
                self._demux = plain_output.DemuxedRecording(self.recorder) if plain else None
                self._record_output = (self._demux or self.recorder).output
            stream = await self._start_exec(request)
        except DtermError as exc:
            if self.recorder is not None:
                self.recorder.close(None, "not started")
            await self.processes.not_started()
            self.refuse(exc)
            return
        self._stream = stream
        self.log.info("exec %.12s in %s for %s", self.processes.exec_id, container.name,
                      self.person)  # fmt: skip
        self.processes.find()
        self._host.session_started(self)
        if self.owner is not None:
            self.fanout.join(self.owner.id, 0, owner=True)
            self.owner.emit(self._opened(self.owner, 0, 0))
        effects = self.lifecycle.started()
        if self.phase is Phase.RUNNING:
            assert self._transport is not None
            self.input.running(self._transport)
            self._idle.start()
        if self.tty:
            self.resizer.started(self.processes.exec_id, self.size,
                                 self._docker.supports_console_size)  # fmt: skip
        stream.on_writable = self._acknowledge_input
        stream.attach(self._on_output, self._on_stream_closed)
        self._update_flow()
        self._apply(effects)

    async def _start_exec(self, request: OpenSession) -> ExecStream:
        """Create, then start, unless the session was abandoned meanwhile."""
        exec_id = await self._docker.create_exec(self.container, self.command, request.user,
                                                 request.workdir, self._config.detach_keys,
                                                 self.processes.environment,
                                                 self.tty)  # fmt: skip
        await self.processes.created(exec_id)
        if self.lifecycle.ending is not None:
            raise Unavailable(f"the session was {self.lifecycle.ending.reason.value} before it ran")
        stream = ExecStream(self._docker.read_buffer)
        if self.tty:
            start = self._docker.start_exec(self.processes.exec_id, *self.size, stream)
        else:
            start = self._docker.start_plain_exec(self.processes.exec_id, stream)
        try:
            self._transport = await asyncio.wait_for(start, START_TIMEOUT)
        except TimeoutError:
            raise Unavailable("Docker did not start the exec in time") from None
        return stream

    def refuse(self, error: DtermError) -> None:
        """The open failed before or while its exec started."""
        self.log.info("open failed: %s", error)
        self._failure = error
        self._apply(self.lifecycle.start_failed())

    def _fail_open(self) -> None:
        error = self._failure or Unavailable("the session did not start")
        if self.owner is not None:
            self.owner.emit(Failed(self.owner.id, error.code, str(error)))
        self._ended.set()

    def _opened(self, attachment: Attachment, start: int, skipped: int) -> SessionOpened:
        owner = attachment.mode is Mode.RW
        cols, rows = self.size
        if owner:
            self._credit.told()
        return SessionOpened(
            attachment=attachment.id, session=self.id, container=self.container_name,
            mode=attachment.mode, window=self._config.window, offset=start, skipped=skipped,
            cols=cols, rows=rows, watch_token=self.watch_token if owner else "", tty=self.tty,
            input=self._credit.received,
            ended=self.phase not in (Phase.STARTING, Phase.RUNNING),
        )  # fmt: skip

    # --- connections --------------------------------------------------------------------

    def attach(self, attachment: Attachment, offset: int, token: str) -> None:
        """Join from `offset`: the owner takes over any earlier connection of theirs."""
        self.lifecycle.check_attach()
        if attachment.mode is Mode.RW and attachment.person != self.person:
            raise Forbidden("only the session's owner may attach read-write")
        if attachment.mode is Mode.RO and not (
            attachment.person == self.person
            or hmac.compare_digest(token.encode(), self.watch_token.encode())
        ):
            raise Forbidden("watching needs the session's watch link")
        owner = attachment.mode is Mode.RW
        previous = self.owner if owner else None
        start, skipped = self.fanout.join(attachment.id, offset, owner=False)
        if previous is not None:
            previous.emit(Detached(previous.id, "the session was resumed elsewhere"))
            self.fanout.leave(previous.id)
        if owner:
            self.fanout.leave(attachment.id)
            self.fanout.join(attachment.id, offset, owner=True)
            self.owner = attachment
            self._apply(self.lifecycle.owner_back())
        else:
            self.watchers[attachment.id] = attachment
            self.watched_by.add(attachment.person)
        attachment.emit(self._opened(attachment, start, skipped))
        self.log.info("%s attached %s from %d (%d skipped)", attachment.person,
                      attachment.mode.value, start, skipped)  # fmt: skip
        self._send(self.fanout.pump(attachment.id))
        self._update_flow()
        self._tell_watchers()
        self._exit_when_caught_up(attachment)

    def detach(self, attachment_id: str) -> None:
        """A connection is gone; without its owner the session waits `grace` seconds."""
        self.fanout.leave(attachment_id)
        if self.owner is not None and self.owner.id == attachment_id:
            self.owner = None
            self.log.info("owner detached; %ss to resume", self._config.grace)
            self._apply(self.lifecycle.owner_left())
            self._update_flow()
        elif self.watchers.pop(attachment_id, None) is not None:
            self._tell_watchers()

    def require_owner(self, attachment_id: str) -> Attachment:
        if self.owner is None or self.owner.id != attachment_id:
            raise Forbidden("this connection only watches the session (read-only)")
        return self.owner

    def close(self, attachment_id: str) -> None:
        """The owner ends the session (or dismisses an ended one)."""
        self.require_owner(attachment_id)
        self.log.info("closed by its owner while %s", self.phase.value)
        self._apply(self.lifecycle.close())

    def end(self, reason: ExitReason, message: str = "") -> None:
        """End it for a reason of the worker's (container stopped, shutting down...);
        not while it is being handed over: the successor sees the stream end itself."""
        if not self.frozen:
            self._apply(self.lifecycle.end(reason, message))

    def stop(self) -> None:
        """The worker stops: end a live session, forget an ended one."""
        self._apply(self.lifecycle.stopping())

    def _tell_watchers(self) -> None:
        if self.owner is not None and self.phase is not Phase.STARTING:
            watchers = [WatcherInfo(w.person, int(w.since)) for w in self.watchers.values()]
            self.owner.emit(WatchersChanged(self.owner.id, watchers))

    # --- output and flow control --------------------------------------------------------

    def _on_output(self, data: bytes) -> None:
        """Bytes go to the browsers first: recording them is not on the keystroke path."""
        start = self.fanout.end
        if start == 0:
            self.resizer.first_output()
        for send in self.fanout.output(data):
            self._send(send)
        self._update_flow()
        BYTES.outbound += len(data)
        if start < _SAID_BYTES:
            self._said += data[: _SAID_BYTES - start]
        if self._record_output is not None:
            self._record_output(data)

    def _send(self, send: Send | None) -> None:
        if send is None:
            return
        attachment = self._attachment(send.attachment)
        if attachment is not None:
            attachment.emit(Output(attachment.id, send.offset, send.data))

    def ack(self, attachment_id: str, offset: int) -> None:
        self._send(self.fanout.ack(attachment_id, offset))
        self._update_flow()
        attachment = self._attachment(attachment_id)
        if attachment is not None and self.exit is not None:
            self._exit_when_caught_up(attachment)
            self.fanout.release_if_delivered()

    def _update_flow(self) -> None:
        if self._stream is None or self._transport is None or self._transport.is_closing():
            return
        room = self.fanout.room()
        self._stream.limit = room
        if room <= 0 and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        elif room > 0 and self._paused:
            self._paused = False
            self._transport.resume_reading()

    def _attachment(self, attachment_id: str) -> Attachment | None:
        if self.owner is not None and self.owner.id == attachment_id:
            return self.owner
        return self.watchers.get(attachment_id)

    # --- input and resize ---------------------------------------------------------------

    def write(self, attachment_id: str, data: bytes) -> None:
        """Keystrokes of the owner: held until it runs, refused once it ends."""
        self.require_owner(attachment_id)
        self._idle.touch()
        if self.lifecycle.check_input() is Input.HOLD:
            self.input.hold(data)
        else:
            self.input.write(data)
        self._credit.took(len(data))
        self._acknowledge_input()

    def _record_input(self, data: bytes) -> None:
        if self.recorder is not None:
            self.recorder.input(data)

    def _acknowledge_input(self) -> None:
        """Tell the owner how far its input got, while the program keeps up."""
        behind = self._stream is None or self._stream.write_paused
        offset = self._credit.due(behind)
        if offset is not None and self.owner is not None:
            self.owner.emit(InputAck(self.owner.id, offset))

    def end_input(self, attachment_id: str) -> None:
        """The owner's input has ended: the program reads EOF after what came before
        (a half-close of the exec's connection, which Docker passes on)."""
        self.require_owner(attachment_id)
        if self.tty:
            raise ProtocolError("a session with a tty has no end of input: type Ctrl-D")
        if self.input.ended or self.phase in (Phase.ENDING, Phase.ENDED):
            return  # said twice by a resuming owner, or after the program's own end: moot
        self.input.end()

    def resize(self, attachment_id: str, cols: int, rows: int) -> None:
        """The owner's new size: recorded, shown to watchers, given to the exec (once
        it is started, for a resize that comes while it starts)."""
        self.require_owner(attachment_id)
        if self.phase not in (Phase.STARTING, Phase.RUNNING) or not self.tty:
            return  # nothing left to draw on, or nothing to draw on at all
        self._idle.touch()
        self.size = (cols, rows)
        if self.command and self._cmd is None and self.fanout.end == 0:
            self.resizer.again_at_first_output(cols, rows)  # the shell's `stty` may not have run
        if self.recorder is not None:
            self.recorder.resize(cols, rows)
        for watcher in self.watchers.values():
            watcher.emit(SessionResized(watcher.id, cols, rows))
        self.resizer.want(cols, rows)

    # --- idleness ---------------------------------------------------------------------

    def _warn_idle(self, seconds: int) -> None:
        self.log.info("idle; ends in %d s", seconds)
        for attachment in self.attachments():
            attachment.emit(IdleWarning(attachment.id, seconds))

    def _expire_idle(self) -> None:
        self.end(ExitReason.IDLE, f"no keystrokes for {self._config.idle_timeout:g} s")

    async def working_directory(self) -> str:
        """Where the session's shell is now (inside the container)."""
        return await self.processes.working_directory()
