"""The worker's ROUTER socket: receive, decode once, dispatch by message type.

Front ends connect DEALER sockets to it. Every request is answered on the peer it
came from; a malformed or unknown message is logged with its peer and answered
with Failed, and the loop goes on. The socket has ROUTER_MANDATORY set, so a reply
to a vanished peer raises instead of vanishing, and no send high-water mark: the
per-attachment flow-control window is what bounds the data in flight.

A front end is alive while it says Hello. One that has been silent for peer_timeout
seconds (announced in Welcome), or that cannot be reached, loses its attachments:
the sessions go on, and their owners may resume them through any front end. Each
Hello names the protocol versions the front end speaks; Welcome names the newest
both know.

Concurrency: one event loop; slow work (Docker calls) runs in tasks that this
server keeps references to and cancels at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine
from typing import Any

import zmq

from exec_worker import metrics
from exec_worker.containers import ContainerWatcher
from exec_worker.docker_exec import DaemonFacts, DockerHost
from exec_worker.host_rules import HostRules, own_container_id
from exec_worker.listener import bind_on, open_listener
from exec_worker.observe import ObserveRequests
from exec_worker.recording_service import Recordings
from exec_worker.refusals import Refusals
from exec_worker.registry import SessionRegistry
from exec_worker.server_handover import Handing, ServerHandover
from exec_worker.takeover import Handovers
from exec_worker.transfer_requests import FileRequests
from shared.audit import AuditLog
from shared.errors import (
    DtermError,
    Forbidden,
    NotFound,
    ProtocolError,
    Unavailable,
)
from shared.messages import (
    Ack,
    AttachSession,
    CloseSession,
    ContainerChanged,
    ContainerInfo,
    ContainersListed,
    DetachSession,
    EndInput,
    Failed,
    FindSession,
    Hello,
    Input,
    ListContainers,
    ListSessions,
    Message,
    OpenSession,
    Paused,
    Resize,
    SessionFound,
    SessionsListed,
    Welcome,
)
from shared.observe_messages import ReadLogs, ReadStats
from shared.process import ListenError
from shared.protocol import agree, decode, encode
from shared.revocation_messages import Revocation, RevokeSignIns, SignInsRevoked
from shared.revocations import Revocations, in_batches
from shared.security import AllowedKeys, KeyGate, make_curve_server
from shared.settings import WorkerConfig
from shared.transfer_messages import (
    FetchRecording,
    FileAbort,
    FileAck,
    FileData,
    FileEnd,
    GetFile,
    ListRecordings,
    PutFile,
    RecordingsListed,
)
from shared.zmq_io import SocketPump

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0
HEARTBEAT_MS = 1000  # ZMTP heartbeats: a dead front end's connection is dropped
HEARTBEAT_TIMEOUT_MS = 3000


class WorkerServer(ServerHandover):
    """Serves front ends for one Docker host."""

    def __init__(
        self,
        config: WorkerConfig,
        context: zmq.Context[Any],
        docker: DockerHost,
        facts: DaemonFacts,
        audit: AuditLog,
    ) -> None:
        self._config = config
        self._context = context
        self._docker = docker
        self._facts = facts
        self.instance = secrets.token_hex(8)
        self._socket = self._router()
        self._peers: dict[bytes, float] = {}
        self._versions: dict[bytes, int] = {}
        self._handing = Handing()
        self.revoked = Revocations()
        """Sign-ins that are over, passed from front end to front end."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self.rules = HostRules(config.deny_label, config.allow_label, own_container_id())
        self.audit = audit
        self.containers = ContainerWatcher(docker, self.rules, self._container_changed)
        self.recordings = Recordings(
            config,
            lambda: [
                s.recorder
                for s in self.registry.sessions.values()
                if s.recorder and not s.recorder.closed
            ],
        )
        self.registry = SessionRegistry(
            config, docker, self.recordings, self.audit, self.containers.containers.get
        )
        self.handovers = Handovers(self, config.state_dir)
        self.files = FileRequests(
            docker, config, self.recordings, self._resolve, self.registry.sessions, self.send,
            self.audit, self._spawn,
        )  # fmt: skip
        self.observe = ObserveRequests(docker, config, self._resolve, self.send, self.audit,
                                       self._spawn)  # fmt: skip

    def _router(self) -> zmq.Socket[Any]:
        socket: zmq.Socket[Any] = self._context.socket(zmq.ROUTER)
        for option, value in (
            (zmq.ROUTER_MANDATORY, 1),
            (zmq.SNDHWM, 0),
            (zmq.RCVHWM, 0),
            (zmq.LINGER, 1000),
            (zmq.HEARTBEAT_IVL, HEARTBEAT_MS),
            (zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS),
        ):
            socket.setsockopt(option, value)
        return socket

    def bind(self, keys: tuple[bytes, bytes]) -> str:
        """Bind the ROUTER socket as a CurveZMQ server, behind the ZAP gate that admits
        only the allowed front ends' keys; returns the endpoint actually bound."""
        self._keys = keys
        self.refusals = Refusals()
        self._gate = KeyGate(  # before the bind: without a ZAP handler CURVE admits any key
            self._context, AllowedKeys(self._config.curve_allow), self.refusals.key_refused
        )
        make_curve_server(self._socket, keys)
        self.refusals.watch(self._socket)
        try:
            if self.listener is None and not self.handed_endpoint:
                self.listener = open_listener(self._config.bind)
            if self.listener is not None:
                self.endpoint = bind_on(self._socket, self.listener)
            else:
                self._socket.bind(self.handed_endpoint or self._config.bind)
                self.endpoint = str(self._socket.getsockopt_string(zmq.LAST_ENDPOINT))
        except (OSError, zmq.ZMQError) as exc:  # the gate and the monitor are on the loop
            self.refusals.close(self._socket)
            self._gate.close()
            if self.handed_endpoint:
                raise  # the worker before may not have let go of it yet: asked again
            raise ListenError(
                f"cannot listen on {self._config.bind} (bind): {exc.strerror}"
            ) from None
        return self.endpoint

    async def serve(self, stop: asyncio.Event) -> None:
        """Answer front ends until `stop` is set, then end every session; or until a
        successor took them over, then leave them be."""
        leftovers = await self.registry.sweep_leftovers()
        if leftovers:
            log.warning("ended %d processes of sessions an earlier run left running", leftovers)
        self._pump = SocketPump(self._socket, self._receive)
        self.registry.go_on()
        sweeper = asyncio.create_task(self._sweep_loop())
        await self.containers.start()
        self.recordings.start()
        self.handovers.listen()
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([stopped, asyncio.create_task(self.handovers.finished.wait())],
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        self.handovers.close()
        if stopped.done():
            await self.registry.drain(self._config.drain_timeout)
        sweeper.cancel()
        self.containers.close()
        if stopped.done():
            await self.registry.stop(SHUTDOWN_GRACE + self._config.kill_grace)
        self.recordings.close()
        for task in self._tasks:
            task.cancel()
        self._gate.close()
        if not self._handing.released:  # else the successor holds the endpoint by now
            self.refusals.close(self._socket)
            self._pump.close()

    def _receive(self, frames: list[bytes]) -> None:
        if self._handing.frozen:
            self._handing.hold(frames)  # dispatched if the handover fails, else moot
            return
        self._dispatch(frames[0], frames[1:])

    # --- peers -----------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            metrics.FRONTENDS.set(len(self._peers))
            for peer, seen in list(self._peers.items()):
                if now - seen > self._config.peer_timeout:
                    log.info("front end %s silent for %.0f s", peer.hex(), now - seen)
                    self._peer_gone(peer)

    def _peer_gone(self, peer: bytes) -> None:
        """Its connections are gone: detach them, the sessions go on."""
        self._peers.pop(peer, None)
        self._handing.forget(peer)
        self.files.peer_gone(peer)
        self.observe.peer_gone(peer)
        self.registry.peer_gone(peer)

    # --- sending --------------------------------------------------------------------

    def send(self, peer: bytes, message: Message) -> None:
        """Queue a message for a peer; a vanished peer is logged, never silently lost."""
        try:
            if self._handing.keep_for(peer, message):
                return  # a front end of the worker that ran before, not yet back
        except Unavailable as exc:
            log.warning("front end %s did not come back in time: %s", peer.hex(), exc)
            self._peer_gone(peer)
            return
        try:
            self._pump.send([peer, *encode(message)])
        except zmq.ZMQError as exc:  # EHOSTUNREACH: ROUTER_MANDATORY at work
            log.warning("front end %s unreachable, %s not sent: %s", peer.hex(), message.TAG, exc)
            self._peer_gone(peer)

    def _broadcast(self, message: Message) -> None:
        """Send to every live front end."""
        for peer in list(self._peers):
            self.send(peer, message)

    def _container_changed(self, change: ContainerChanged) -> None:
        self.registry.container_changed(change.id, change.container)
        self._broadcast(change)

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
        ref = getattr(message, "attachment", "") or getattr(message, "request", "")
        try:
            self._handle(peer, message)
        except DtermError as exc:
            log.info("%s from %s refused: %s", message.TAG, peer.hex(), exc)
            self._fail(peer, ref, exc)
        except Exception:  # a bug must not leave the asker waiting, nor stop the loop
            log.exception("%s from %s failed", message.TAG, peer.hex())
            self._fail(peer, ref, DtermError(f"the worker could not handle {message.TAG}"))

    def _handle(self, peer: bytes, message: Message) -> None:
        registry = self.registry
        match message:
            case Input(attachment=aid, data=data):
                registry.session_of(peer, aid).write(aid, data)
            case Ack(attachment=aid, offset=offset) if aid in registry.attachments:
                registry.session_of(peer, aid).ack(aid, offset)
            case Ack():
                pass  # an ack racing the end of its session: nothing left to pace
            case EndInput(attachment=aid):
                registry.session_of(peer, aid).end_input(aid)
            case Resize(attachment=aid, cols=cols, rows=rows):
                registry.session_of(peer, aid).resize(aid, cols, rows)
            case DetachSession(attachment=aid):
                registry.detach(peer, aid)
            case CloseSession(attachment=aid):
                registry.session_of(peer, aid).close(aid)
            case (
                PutFile() | GetFile() | FetchRecording() | ReadLogs() | ReadStats()
            ) if registry.handing_over:  # fmt: skip
                raise Unavailable(f"host {self._config.host_id} is being upgraded: try again")
            case FileAck() | FileAbort():  # of a file transfer or of a logs stream
                self.files.handle(peer, message)
                self.observe.handle(peer, message)
            case PutFile() | GetFile() | FetchRecording() | FileData() | FileEnd():
                self.files.handle(peer, message)
            case ReadLogs() | ReadStats():
                self.observe.handle(peer, message)
            case ListRecordings():
                self._spawn(self._list_recordings(peer, message))
            case OpenSession():
                session = registry.open(peer, message, self.send)
                self._spawn(registry.start(session, message, self._resolve))
            case AttachSession():
                registry.attach(peer, message, self.send)
            case ListContainers(request=request):
                containers = list(self.containers.containers.values())
                self.send(peer, ContainersListed(request, self.containers.seq, containers))
            case ListSessions(request=request, person=person):
                mine = [s.info() for s in registry.live() if s.person == person]
                self.send(peer, SessionsListed(request, mine))
            case FindSession(request=request, session=session_id):
                found = registry.find(session_id)
                self.send(peer, SessionFound(request, found.id, found.container, found.person))
            case RevokeSignIns(entries=entries, sync=sync):
                self._revoke(peer, entries, sync)
            case Paused(token=token):
                self.peer_paused(peer, token)
            case Hello(protocol=newest, oldest=oldest):
                version = agree(oldest, newest)
                self._peers[peer], self._versions[peer] = time.monotonic(), version
                if not self._handing.welcome_held:
                    self.send(peer, self._welcome(version))
                    self._handing.returned(peer, self._pump)
            case _:
                raise ProtocolError(f"a worker does not accept {message.TAG!r} messages")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task failed", exc_info=task.exception())

    def _revoke(self, peer: bytes, entries: list[Revocation], sync: bool) -> None:
        """Keep the sign-ins a front end says are over and pass the news to the others;
        a front end that syncs gets every one this worker knows."""
        now = time.time()
        fresh = self.revoked.add(entries, now)
        for batch in in_batches(fresh):
            for other in [p for p in self._peers if p != peer]:
                self.send(other, SignInsRevoked(batch))
        if sync:
            for batch in in_batches(self.revoked.entries(now)):
                self.send(peer, SignInsRevoked(batch))

    async def _resolve(self, reference: str, person: str, address: str = "") -> ContainerInfo:
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
                address=address,
                host=host,
                container=info.name,
                reason=refusal,
                by="host rules",
            )
            raise Forbidden(f"host {host} refuses: {refusal}")
        return info

    async def _list_recordings(self, peer: bytes, request: ListRecordings) -> None:
        found = await self.recordings.list(request)
        self.send(peer, RecordingsListed(request.request, found))

    def _welcome(self, version: int) -> Welcome:
        total, running = self.containers.counts()
        return Welcome(
            host=self._config.host_id,
            instance=self.instance,
            protocol=version,
            docker_version=self._facts.version,
            api_version=self._facts.api_version,
            containers=total,
            running=running,
            docker_problem=self.containers.docker_problem,
            peer_timeout_ms=int(self._config.peer_timeout * 1000),
            engine=self._facts.engine.value,
        )
