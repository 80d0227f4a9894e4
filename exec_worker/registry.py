"""SessionRegistry: every session of this worker, the attachments that reach them, and
the limits on both.

It opens sessions (within the host's limits, through a bounded gate so an overload
is refused early instead of queued for minutes), routes attachments to sessions by
the peer that made them, ends the sessions of a container that stopped, and audits
each session's start and end. The sessions decide their own lives; the registry
only keeps the books and carries out what ends them from outside.

Concurrency: the worker's event loop; each open runs as one task the server owns.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from exec_worker import metrics, session_state
from exec_worker.docker_exec import DockerHost
from exec_worker.exec_stream import ExecStream
from exec_worker.leftovers import ProcessRecords, end_left_processes
from exec_worker.lifecycle import Phase
from exec_worker.process_index import ProcessIndex
from exec_worker.recording_service import Recordings
from exec_worker.session_parties import Attachment
from exec_worker.sessions import ExecSession
from shared.audit import AuditLog
from shared.errors import Conflict, DtermError, Forbidden, LimitReached, NotFound, Unavailable
from shared.messages import AttachSession, ContainerInfo, ExitReason, Message, Mode, OpenSession
from shared.settings import WorkerConfig
from shared.slots import Slots

log = logging.getLogger(__name__)

OPENS_WAITING_PER_THREAD = 32
"""Opens queued behind those at work, per Docker thread; more are refused at once."""
OPEN_WAIT = 10.0
"""Seconds an open may wait for its turn before it is refused (the front end waits 30)."""

Resolve = Callable[[str, str, str], Awaitable[ContainerInfo]]
Send = Callable[[bytes, Message], None]


class SessionRegistry:
    def __init__(
        self,
        config: WorkerConfig,
        docker: DockerHost,
        recordings: Recordings,
        audit: AuditLog,
        container_state: Callable[[str], ContainerInfo | None],
    ) -> None:
        self.sessions: dict[str, ExecSession] = {}
        metrics.SESSIONS_HELD.set_function(lambda: len(self.sessions))
        self.attachments: dict[str, tuple[ExecSession, Attachment]] = {}
        self.records = ProcessRecords(config.state_dir)
        self.processes = ProcessIndex()
        self.draining = False
        self.handing_over = False
        self._config, self._docker, self._recordings = config, docker, recordings
        self._audit, self._container_state = audit, container_state
        self._opening = Slots(
            config.docker_threads,
            config.docker_threads * OPENS_WAITING_PER_THREAD,
            lambda why: Unavailable(f"host {config.host_id} is busy opening sessions: {why}"),
            OPEN_WAIT,
        )

    def live(self) -> list[ExecSession]:
        return [s for s in self.sessions.values() if s.exit is None]

    # --- opening and joining -----------------------------------------------------------

    def open(self, peer: bytes, request: OpenSession, send: Send) -> ExecSession:
        """Register a new session and its owner; the caller runs `start` as a task."""
        if request.session in self.sessions:
            raise Conflict(f"session {request.session} already exists")
        if self.draining:
            raise Unavailable(f"host {self._config.host_id} is shutting down")
        if self.handing_over:
            raise Unavailable(f"host {self._config.host_id} is being upgraded: try again")
        self._check_limits(request.person)
        owner = self._new_attachment(peer, request.attachment, request.person, Mode.RW, send)
        session = ExecSession(request.session, owner, self._docker, self._config,
                              self._recordings, self, self.records, self.processes)  # fmt: skip
        self.sessions[session.id] = session
        self.attachments[owner.id] = (session, owner)
        return session

    async def start(self, session: ExecSession, request: OpenSession, resolve: Resolve) -> None:
        """Wait for a turn (refused if the host is too busy), then start the exec: never
        for a session abandoned while it waited."""
        started = time.perf_counter()
        try:
            async with self._opening:
                if session.lifecycle.ending is not None:
                    raise Unavailable("the session was closed before it started")
                container = await resolve(request.container, request.person, request.address)
                await session.start(request, container)
        except DtermError as exc:
            session.refuse(exc)
            return
        if session.exit is None and session.lifecycle.ending is None:
            metrics.OPEN_SECONDS.observe(time.perf_counter() - started)

    # --- handover (takeover.py) ---------------------------------------------------------

    def settling(self) -> bool:
        """Some session is starting or ending (those are not handed over)."""
        return any(s.phase in (Phase.STARTING, Phase.ENDING) for s in self.sessions.values())

    async def adopt(
        self, state: dict[str, Any], exec_socket: socket.socket | None, send: Send
    ) -> None:
        """A session from the worker that ran before, with its attachments; it reads
        its exec once `go_on` is called."""
        if state["id"] in self.sessions:
            raise Conflict(f"session {state['id']} handed over twice")
        made = [self._new_attachment(peer, aid, person, mode, send)
                for aid, peer, person, mode, _ in session_state.attachments(state)]  # fmt: skip
        owner = made[0] if state["owner"] else None
        session = ExecSession(state["id"], owner or Attachment("", b"", state["person"], Mode.RW,
                              lambda _: None, 0.0), self._docker, self._config,
                              self._recordings, self, self.records, self.processes)  # fmt: skip
        session.person, session.owner = state["person"], owner
        session.watchers = {a.id: a for a in made if a is not owner}
        transport, stream = await _adopt_connection(exec_socket, self._docker)
        recorder = self._recordings.adopt(state["recorder"]) if state["recorder"] else None
        session.adopt(state, transport, stream, recorder)
        self.sessions[session.id] = session
        for attachment in made:
            self.attachments[attachment.id] = (session, attachment)
        if session.exit is None:
            metrics.SESSIONS_OPEN.inc()

    def go_on(self) -> None:
        """Every session handed over reads its exec again."""
        for session in list(self.sessions.values()):
            if session.frozen:
                session.go_on()

    def find(self, session_id: str) -> ExecSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise NotFound(f"no session {session_id} on host {self._config.host_id}")
        return session

    def attach(self, peer: bytes, request: AttachSession, send: Send) -> None:
        """Join a session; every attempt is audited, refused ones with the reason."""
        fields = {"session": request.session, "person": request.person,
                  "address": request.address, "mode": request.mode.value,
                  "host": self._config.host_id}  # fmt: skip
        try:
            session = self.find(request.session)
            fields["container"] = session.container_name
            if session.container != request.container:
                raise Forbidden("the session runs in another container than the one checked")
            attachment = self._new_attachment(
                peer, request.attachment, request.person, request.mode, send
            )
            previous = session.owner if request.mode is Mode.RW else None
            session.attach(attachment, request.offset, request.token)
        except DtermError as exc:
            self._audit.record("attach", ok=False, reason=str(exc), **fields)
            raise
        self._audit.record("attach", ok=True, **fields)
        if previous is not None:
            self.attachments.pop(previous.id, None)
        self.attachments[attachment.id] = (session, attachment)

    def _new_attachment(
        self, peer: bytes, attachment_id: str, person: str, mode: Mode, send: Send
    ) -> Attachment:
        if attachment_id in self.attachments:
            raise Conflict(f"attachment {attachment_id} already exists")
        emit = lambda message: send(peer, message)  # noqa: E731
        return Attachment(attachment_id, peer, person, mode, emit, time.time())

    def _check_limits(self, person: str) -> None:
        host, live = self._config.host_id, self.live()
        if len(live) >= self._config.max_sessions:
            limit = self._config.max_sessions
            raise LimitReached(f"host {host} runs its limit of {limit} sessions")
        mine = sum(1 for s in live if s.person == person)
        if mine >= self._config.max_sessions_per_person:
            raise LimitReached(f"{person} runs {mine} sessions on host {host}, the limit")

    # --- routing --------------------------------------------------------------------------

    def session_of(self, peer: bytes, attachment_id: str) -> ExecSession:
        found = self.attachments.get(attachment_id)
        if found is None or found[1].peer != peer:
            raise NotFound(f"no session for attachment {attachment_id}")
        return found[0]

    def detach(self, peer: bytes, attachment_id: str) -> None:
        session = self.session_of(peer, attachment_id)
        self.attachments.pop(attachment_id, None)
        session.detach(attachment_id)

    def peer_gone(self, peer: bytes) -> None:
        """A front end is gone: its connections are detached, the sessions go on."""
        for attachment_id, (_, attachment) in list(self.attachments.items()):
            if attachment.peer == peer:
                self.detach(peer, attachment_id)

    # --- what the sessions tell ---------------------------------------------------------

    def session_started(self, session: ExecSession) -> None:
        metrics.SESSIONS_OPENED.inc()
        metrics.SESSIONS_OPEN.inc()
        self._audit.record("session-start", host=self._config.host_id, **audit_fields(session))

    def session_ended(self, session: ExecSession) -> None:
        metrics.SESSIONS_OPEN.dec()
        metrics.SESSIONS_CLOSED.labels(session.exit[1].value if session.exit else "").inc()
        self._audit.record("session-end", host=self._config.host_id, **audit_fields(session))

    def session_gone(self, session: ExecSession) -> None:
        self.sessions.pop(session.id, None)
        for attachment_id, (owner, _) in list(self.attachments.items()):
            if owner is session:
                del self.attachments[attachment_id]

    def container_running(self, container: str) -> bool | None:
        """What the event-fed cache says (None: it does not know the container)."""
        info = self._container_state(container)
        return None if info is None else info.state == "running"

    def container_changed(self, container: str, info: ContainerInfo | None) -> None:
        """A container that stopped or went takes its sessions with it."""
        if info is not None and info.state == "running":
            return
        for session in self.live():
            if session.container == container:
                session.end(ExitReason.CONTAINER_STOPPED)

    # --- the end of the worker ----------------------------------------------------------

    async def drain(self, seconds: float) -> None:
        """Let live sessions end by themselves for up to `seconds`; no new ones start."""
        self.draining = True
        live = self.live()
        if not live or seconds <= 0:
            return
        log.info("draining %d sessions for up to %ss", len(live), seconds)
        await asyncio.wait([asyncio.ensure_future(s.wait_ended()) for s in live], timeout=seconds)

    async def stop(self, seconds: float) -> None:
        """End every session within `seconds`: their processes are ended from /proc,
        without waiting on Docker."""
        sessions = list(self.sessions.values())
        for session in sessions:
            session.stop()
        ends = [asyncio.ensure_future(s.wait_ended()) for s in sessions]
        if ends:
            _, late = await asyncio.wait(ends, timeout=seconds)
            if late:
                log.warning("%d sessions did not end in time", len(late))
            for waiter in late:
                waiter.cancel()

    async def sweep_leftovers(self) -> int:
        """End what an earlier run of this worker left running; returns how many
        processes that took."""
        ended = 0
        for record in await asyncio.to_thread(self.records.left):
            if record.session in self.sessions:
                continue  # handed over by the worker that ran before: it runs on
            carrying = await self.processes.marked(record.marker)
            ended += await asyncio.to_thread(end_left_processes, carrying)
            await asyncio.to_thread(self.records.drop, record.session)
        return ended


def audit_fields(session: ExecSession) -> dict[str, Any]:
    """Who did what, for the audit log; with the outcome once the session ended."""
    fields: dict[str, Any] = {
        "session": session.id,
        "person": session.person,
        "address": session.address,
        "container": session.container_name,
        "container_id": session.container,
        "command": session.command,
        "run_as": session.run_as or None,
        "started": int(session.started),
        "recording": [p.name for p in session.recorder.paths] if session.recorder else [],
    }
    if session.exit is not None:
        fields.update(
            exit_code=session.exit[0],
            reason=session.exit[1].value,
            duration=round(time.time() - session.started, 3),
            bytes_in=session.input.written,
            bytes_out=session.fanout.end,
            watchers=sorted(session.watched_by),
        )
    return fields


async def _adopt_connection(
    exec_socket: socket.socket | None, docker: DockerHost
) -> tuple[asyncio.Transport | None, ExecStream | None]:
    """The exec's connection as a paused transport: its head was read long ago."""
    if exec_socket is None:
        return None, None
    stream = ExecStream(docker.read_buffer)
    stream.upgraded.set_result(None)
    transport, _ = await asyncio.get_running_loop().create_connection(
        lambda: stream, sock=exec_socket
    )
    transport.pause_reading()
    return transport, stream
