"""The worker's ROUTER socket: receive, decode once, dispatch by message type.

Front ends connect DEALER sockets to it. Every request is answered on the peer it
came from; a malformed or unknown message is logged with its peer and answered
with Failed, and the loop goes on. The socket has ROUTER_MANDATORY set, so a reply
to a vanished peer raises instead of vanishing, and no send high-water mark: the
per-attachment flow-control window is what bounds the data in flight.

A front end is alive while it says Hello. One that has been silent for PEER_TIMEOUT
seconds, or that cannot be reached, loses its attachments: the sessions go on, and
their owners may resume them through any front end.

Concurrency: one event loop; slow work (Docker calls) runs in tasks that this
server keeps references to and cancels at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine
from functools import partial
from typing import Any

import zmq

from exec_worker import metrics
from exec_worker.containers import ContainerWatcher
from exec_worker.docker_exec import DaemonFacts, DockerHost
from exec_worker.file_requests import FileRequests
from exec_worker.host_rules import HostRules, own_container_id
from exec_worker.recordings import Recordings
from exec_worker.refusals import Refusals
from exec_worker.sessions import Attachment, ExecSession
from shared.audit import AuditLog
from shared.config import WorkerConfig
from shared.errors import (
    Conflict,
    DtermError,
    Forbidden,
    LimitReached,
    NotFound,
    ProtocolError,
    Unavailable,
    VersionMismatch,
)
from shared.messages import (
    Ack,
    AttachSession,
    CloseSession,
    ContainerInfo,
    ContainersListed,
    DetachSession,
    ExitReason,
    Failed,
    FetchRecording,
    FileAbort,
    FileAck,
    FileData,
    FileEnd,
    GetFile,
    Hello,
    Input,
    ListContainers,
    ListRecordings,
    ListSessions,
    Message,
    Mode,
    OpenSession,
    PutFile,
    RecordingsListed,
    Resize,
    SessionsListed,
    Welcome,
)
from shared.protocol import PROTOCOL_VERSION, decode, encode
from shared.security import AllowedKeys, KeyGate, make_curve_server
from shared.zmq_io import SocketPump

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0
PEER_TIMEOUT = 5.0
"""Seconds after its last Hello that a front end counts as gone."""
HEARTBEAT_MS = 1000  # ZMTP heartbeats: a dead front end's connection is dropped
HEARTBEAT_TIMEOUT_MS = 3000


class WorkerServer:
    """Serves front ends for one Docker host."""

    def __init__(
        self,
        config: WorkerConfig,
        context: zmq.Context[Any],
        docker: DockerHost,
        facts: DaemonFacts,
    ) -> None:
        self._config = config
        self._context = context
        self._docker = docker
        self._facts = facts
        self.instance = secrets.token_hex(8)
        self._socket = context.socket(zmq.ROUTER)
        for option, value in (
            (zmq.ROUTER_MANDATORY, 1),
            (zmq.SNDHWM, 0),
            (zmq.RCVHWM, 0),
            (zmq.LINGER, 1000),
            (zmq.HEARTBEAT_IVL, HEARTBEAT_MS),
            (zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS),
        ):
            self._socket.setsockopt(option, value)
        self._sessions: dict[str, ExecSession] = {}
        self._attachments: dict[str, tuple[ExecSession, Attachment]] = {}
        self._peers: dict[bytes, float] = {}
        self.draining = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.rules = HostRules(config.deny_label, config.allow_label, own_container_id())
        self.audit = AuditLog(config.audit_log)
        self.containers = ContainerWatcher(docker, self.rules, self._broadcast)
        self.recordings = Recordings(
            config, lambda: [s.recorder for s in self._sessions.values() if s.recorder]
        )
        self.files = FileRequests(
            docker, config.max_upload_bytes, self.recordings, self._resolve, self._sessions,
            self.send,
            self.audit, self._spawn, config.host_id,
        )  # fmt: skip

    def bind(self, keys: tuple[bytes, bytes]) -> str:
        """Bind the ROUTER socket as a CurveZMQ server, behind the ZAP gate that admits
        only the allowed front ends' keys; returns the endpoint actually bound."""
        self.refusals = Refusals()
        self._gate = KeyGate(  # before the bind: without a ZAP handler CURVE admits any key
            self._context, AllowedKeys(self._config.curve_allow), self.refusals.key_refused
        )
        make_curve_server(self._socket, keys)
        self.refusals.watch(self._socket)
        self._socket.bind(self._config.bind)
        return str(self._socket.getsockopt_string(zmq.LAST_ENDPOINT))

    async def serve(self, stop: asyncio.Event) -> None:
        """Answer front ends until `stop` is set, then end every session."""
        self._pump = SocketPump(self._socket, self._receive)
        sweeper = asyncio.create_task(self._sweep_loop())
        await self.containers.start()
        self.recordings.start()
        await stop.wait()
        await self._drain()
        sweeper.cancel()
        self.containers.close()
        await self._close_all()
        self.recordings.close()
        for task in self._tasks:
            task.cancel()
        self.refusals.close(self._socket)
        self._gate.close()
        self._pump.close()

    async def _drain(self) -> None:
        """Let sessions end by themselves for up to drain_timeout seconds."""
        self.draining = True
        if not self._sessions or self._config.drain_timeout <= 0:
            return
        log.info("draining %d sessions for up to %ss", len(self._sessions),
                 self._config.drain_timeout)  # fmt: skip
        ends = [asyncio.ensure_future(s.wait_ended()) for s in self._sessions.values()]
        _, pending = await asyncio.wait(ends, timeout=self._config.drain_timeout)
        for waiter in pending:
            waiter.cancel()

    async def _close_all(self) -> None:
        sessions = list(self._sessions.values())
        for session in sessions:
            session.close(ExitReason.CLOSED, "the worker is shutting down")
        if sessions:
            done = asyncio.gather(*(s.wait_ended() for s in sessions))
            try:
                await asyncio.wait_for(done, SHUTDOWN_GRACE + self._config.kill_grace)
            except TimeoutError:
                log.warning("%d sessions did not end in time", len(sessions))

    def _receive(self, frames: list[bytes]) -> None:
        self._dispatch(frames[0], frames[1:])

    # --- peers -----------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            metrics.FRONTENDS.set(len(self._peers))
            for peer, seen in list(self._peers.items()):
                if now - seen > PEER_TIMEOUT:
                    log.info("front end %s silent for %.0f s", peer.hex(), now - seen)
                    self._peer_gone(peer)

    def _peer_gone(self, peer: bytes) -> None:
        """Its connections are gone: detach them, the sessions go on."""
        self._peers.pop(peer, None)
        for attachment_id, (session, attachment) in list(self._attachments.items()):
            if attachment.peer == peer:
                self._detach(attachment_id, session)

    def _detach(self, attachment_id: str, session: ExecSession) -> None:
        self._attachments.pop(attachment_id, None)
        session.detach(attachment_id)

    # --- sending --------------------------------------------------------------------

    def send(self, peer: bytes, message: Message) -> None:
        """Queue a message for a peer; a vanished peer is logged, never silently lost."""
        try:
            self._pump.send([peer, *encode(message)])
        except zmq.ZMQError as exc:  # EHOSTUNREACH: ROUTER_MANDATORY at work
            log.warning("front end %s unreachable, %s not sent: %s", peer.hex(), message.TAG, exc)
            self._peer_gone(peer)

    def _broadcast(self, message: Message) -> None:
        """Send to every live front end."""
        for peer in list(self._peers):
            self.send(peer, message)

    def _fail(self, peer: bytes, ref: str, error: DtermError) -> None:
        self.send(peer, Failed(ref, error.code, str(error)))

    # --- dispatch -------------------------------------------------------------------

    def _dispatch(self, peer: bytes, frames: list[bytes]) -> None:
        try:
            message = decode(frames)
        except ProtocolError as exc:
            log.warning("bad message from front end %s: %s", peer.hex(), exc)
            self._fail(peer, "", exc)
            return
        try:
            self._handle(peer, message)
        except DtermError as exc:
            ref = getattr(message, "attachment", "") or getattr(message, "request", "")
            log.info("%s from %s refused: %s", message.TAG, peer.hex(), exc)
            self._fail(peer, ref, exc)

    def _handle(self, peer: bytes, message: Message) -> None:
        match message:
            case Input(attachment=aid, data=data):
                self._session_of(peer, aid).write(aid, data)
            case Ack(attachment=aid, offset=offset) if aid in self._attachments:
                self._session_of(peer, aid).ack(aid, offset)
            case Ack():
                pass  # an ack racing the end of its session: nothing left to pace
            case Resize(attachment=aid, cols=cols, rows=rows):
                self._session_of(peer, aid).resize(aid, cols, rows)
            case DetachSession(attachment=aid):
                self._detach(aid, self._session_of(peer, aid))
            case CloseSession(attachment=aid):
                session = self._session_of(peer, aid)
                session.require_owner(aid)
                session.close(ExitReason.CLOSED)
            case (
                PutFile() | GetFile() | FetchRecording() | FileData() | FileEnd() | FileAck()
                | FileAbort()
            ):  # fmt: skip
                self.files.handle(peer, message)
            case ListRecordings():
                self._spawn(self._list_recordings(peer, message))
            case OpenSession():
                self._open(peer, message)
            case AttachSession():
                self._attach(peer, message)
            case ListContainers(request=request):
                containers = list(self.containers.containers.values())
                self.send(peer, ContainersListed(request, self.containers.seq, containers))
            case ListSessions(request=request, person=person):
                mine = [s.info() for s in self._sessions.values() if s.person == person]
                self.send(peer, SessionsListed(request, mine))
            case Hello():
                if message.protocol != PROTOCOL_VERSION:
                    raise VersionMismatch(
                        f"front end speaks protocol {message.protocol}, "
                        f"this worker speaks {PROTOCOL_VERSION}"
                    )
                self._peers[peer] = time.monotonic()
                self.send(peer, self._welcome())
            case _:
                raise ProtocolError(f"a worker does not accept {message.TAG!r} messages")

    def _session_of(self, peer: bytes, attachment_id: str) -> ExecSession:
        found = self._attachments.get(attachment_id)
        if found is None or found[1].peer != peer:
            raise NotFound(f"no session for attachment {attachment_id}")
        return found[0]

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task failed", exc_info=task.exception())

    def _new_attachment(
        self, peer: bytes, attachment_id: str, person: str, mode: Mode
    ) -> Attachment:
        if attachment_id in self._attachments:
            raise Conflict(f"attachment {attachment_id} already exists")
        return Attachment(attachment_id, peer, person, mode, partial(self.send, peer), time.time())

    # --- sessions ---------------------------------------------------------------------

    def _open(self, peer: bytes, request: OpenSession) -> None:
        if request.session in self._sessions:
            raise Conflict(f"session {request.session} already exists")
        if self.draining:
            raise Unavailable(f"host {self._config.host_id} is shutting down")
        self._check_limits(request.person)
        owner = self._new_attachment(peer, request.attachment, request.person, Mode.RW)
        session = ExecSession(
            request.session, request.person, self._docker, self._config, self.recordings
        )
        self._sessions[session.id] = session
        self._attachments[owner.id] = (session, owner)
        self._spawn(self._run_session(session, request, owner))

    def _attach(self, peer: bytes, request: AttachSession) -> None:
        session = self._sessions.get(request.session)
        if session is None:
            raise NotFound(f"no session {request.session} on host {self._config.host_id}")
        attachment = self._new_attachment(peer, request.attachment, request.person, request.mode)
        previous = session.owner if request.mode is Mode.RW else None
        session.attach(attachment, request.offset, request.token)
        self.audit.record(
            "attach",
            session=session.id,
            person=request.person,
            address=request.address,
            mode=request.mode.value,
            host=self._config.host_id,
            container=session.container_name,
        )
        if previous is not None:
            self._attachments.pop(previous.id, None)
        self._attachments[attachment.id] = (session, attachment)

    def _check_limits(self, person: str) -> None:
        host = self._config.host_id
        if len(self._sessions) >= self._config.max_sessions:
            raise LimitReached(
                f"host {host} runs its limit of {self._config.max_sessions} sessions"
            )
        mine = sum(1 for s in self._sessions.values() if s.person == person)
        if mine >= self._config.max_sessions_per_person:
            raise LimitReached(f"{person} runs {mine} sessions on host {host}, the limit")

    async def _resolve(self, reference: str, person: str) -> ContainerInfo:
        """The container by name or id, if this host allows sessions in it; a refusal
        is audited (hidden containers are never cached, so they are inspected here)."""
        host = self._config.host_id
        info = await self.containers.find(reference)
        if info is None:
            raise NotFound(f"no container {reference!r} on host {host}")
        refusal = self.rules.refusal(info)
        if refusal:
            self.audit.record(
                "denied",
                person=person,
                host=host,
                container=info.name,
                reason=refusal,
                by="host rules",
            )
            raise Forbidden(f"host {host} refuses: {refusal}")
        return info

    async def _run_session(
        self, session: ExecSession, request: OpenSession, owner: Attachment
    ) -> None:
        started = time.perf_counter()
        try:
            try:
                container = await self._resolve(request.container, request.person)
                await session.open(request, owner, container)
            except DtermError as exc:
                session.log.info("open failed: %s", exc)
                self._fail(owner.peer, owner.id, exc)
                return
            metrics.OPEN_SECONDS.observe(time.perf_counter() - started)
            metrics.SESSIONS_OPENED.inc()
            self._audit_session("session-start", session)
            with metrics.SESSIONS_OPEN.track_inprogress():
                await session.wait_ended()
            metrics.SESSIONS_CLOSED.labels(session.exit[1].value if session.exit else "").inc()
            self._audit_session("session-end", session)
        finally:
            del self._sessions[session.id]
            for attachment_id, (owner_session, _) in list(self._attachments.items()):
                if owner_session is session:
                    del self._attachments[attachment_id]

    def _audit_session(self, event: str, session: ExecSession) -> None:
        self.audit.record(event, host=self._config.host_id, **session.audit_fields())

    async def _list_recordings(self, peer: bytes, request: ListRecordings) -> None:
        found = await self.recordings.list(request)
        self.send(peer, RecordingsListed(request.request, found))

    def _welcome(self) -> Welcome:
        total, running = self.containers.counts()
        return Welcome(
            self._config.host_id,
            self.instance,
            PROTOCOL_VERSION,
            self._facts.version,
            self._facts.api_version,
            total,
            running,
        )
