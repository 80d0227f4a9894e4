"""The worker's ROUTER socket: receive, decode once, dispatch by message type.

Front ends connect DEALER sockets to it. Every request is answered on the peer it
came from; a malformed or unknown message is logged with its peer and answered
with Failed, and the loop goes on. The socket has ROUTER_MANDATORY set, so a reply
to a vanished peer raises instead of vanishing, and no send high-water mark: the
per-session flow-control window is what bounds the data in flight.

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
from typing import Any, cast

import zmq
import zmq.asyncio

from exec_worker.containers import ContainerWatcher
from exec_worker.docker_exec import DaemonFacts, DockerHost
from exec_worker.sessions import ExecSession
from shared.config import WorkerConfig, check_worker_security
from shared.errors import DtermError, NotFound, ProtocolError, VersionMismatch
from shared.protocol import (
    PROTOCOL_VERSION,
    Ack,
    CloseSession,
    ContainersListed,
    ExitReason,
    Failed,
    Hello,
    Input,
    ListContainers,
    Message,
    OpenSession,
    Resize,
    Welcome,
    decode,
    encode,
)
from shared.security import make_curve_server

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0
PEER_TTL = 10.0
"""Seconds after its last Hello that a front end still gets container changes."""
HEARTBEAT_MS = 1000  # ZMTP heartbeats: a dead front end's connection is dropped
HEARTBEAT_TIMEOUT_MS = 3000


class WorkerServer:
    """Serves front ends for one Docker host."""

    def __init__(
        self,
        config: WorkerConfig,
        context: zmq.asyncio.Context,
        docker: DockerHost,
        facts: DaemonFacts,
    ) -> None:
        self._config = config
        self._docker = docker
        self._facts = facts
        self.instance = secrets.token_hex(8)
        self._socket = context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._socket.setsockopt(zmq.SNDHWM, 0)
        self._socket.setsockopt(zmq.RCVHWM, 0)
        self._socket.setsockopt(zmq.LINGER, 1000)
        self._socket.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_MS)
        self._socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        self._sessions: dict[str, ExecSession] = {}
        self._owners: dict[str, bytes] = {}
        self._peers: dict[bytes, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.containers = ContainerWatcher(docker, self._broadcast)

    def bind(self) -> str:
        """Bind the ROUTER socket; returns the endpoint actually bound."""
        check_worker_security(self._config)
        if self._config.curve_secret_key:
            make_curve_server(self._socket, self._config.curve_secret_key)
        self._socket.bind(self._config.bind)
        return str(self._socket.getsockopt_string(zmq.LAST_ENDPOINT))

    async def serve(self, stop: asyncio.Event) -> None:
        """Answer front ends until `stop` is set, then end every session."""
        receiver = asyncio.create_task(self._receive_loop())
        await self.containers.start()
        await stop.wait()
        receiver.cancel()
        self.containers.close()
        await self._close_all()
        for task in self._tasks:
            task.cancel()
        self._socket.close()

    async def _close_all(self) -> None:
        sessions = list(self._sessions.values())
        for session in sessions:
            session.close(ExitReason.CLOSED)
        if sessions:
            done = asyncio.gather(*(s.wait_ended() for s in sessions))
            try:
                await asyncio.wait_for(done, SHUTDOWN_GRACE)
            except TimeoutError:
                log.warning("%d sessions did not end within %ss", len(sessions), SHUTDOWN_GRACE)

    async def _receive_loop(self) -> None:
        while True:
            frames = await self._socket.recv_multipart()
            try:
                self._dispatch(frames[0], frames[1:])
            except Exception:
                log.exception("unexpected error handling a message from %s", frames[0].hex())

    # --- sending --------------------------------------------------------------------

    def send(self, peer: bytes, message: Message) -> None:
        """Queue a message for a peer; a vanished peer is logged, never silently lost."""
        sent = cast(asyncio.Future[Any], self._socket.send_multipart([peer, *encode(message)]))
        if sent.done():
            self._check_sent(peer, message, sent)
        else:
            sent.add_done_callback(partial(self._check_sent, peer, message))

    def _check_sent(self, peer: bytes, message: Message, sent: asyncio.Future[Any]) -> None:
        exc = None if sent.cancelled() else sent.exception()
        if exc is None:
            return
        log.warning("front end %s unreachable, %s not delivered: %s", peer.hex(), message.TAG, exc)
        self._peers.pop(peer, None)
        for session_id, owner in list(self._owners.items()):
            if owner == peer:
                self._sessions[session_id].close(ExitReason.CLOSED)

    def _broadcast(self, message: Message) -> None:
        """Send to every front end heard from within PEER_TTL."""
        now = time.monotonic()
        for peer, seen in list(self._peers.items()):
            if now - seen > PEER_TTL:
                del self._peers[peer]
            else:
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
            ref = getattr(message, "session", "") or getattr(message, "request", "")
            log.info("request %s from %s refused: %s", message.TAG, peer.hex(), exc)
            self._fail(peer, ref, exc)

    def _handle(self, peer: bytes, message: Message) -> None:
        match message:
            case Input(session=sid, data=data):
                self._session(peer, sid).write(data)
            case Ack(session=sid, offset=offset):
                self._session(peer, sid).ack(offset)
            case Resize(session=sid, cols=cols, rows=rows):
                self._session(peer, sid).resize(cols, rows)
            case CloseSession(session=sid):
                self._session(peer, sid).close(ExitReason.CLOSED)
            case OpenSession():
                self._open(peer, message)
            case ListContainers(request=request):
                containers = list(self.containers.containers.values())
                self.send(peer, ContainersListed(request, self.containers.seq, containers))
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

    def _session(self, peer: bytes, session_id: str) -> ExecSession:
        session = self._sessions.get(session_id)
        if session is None or self._owners.get(session_id) != peer:
            raise NotFound(f"no session {session_id} on host {self._config.host_id}")
        return session

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task failed", exc_info=task.exception())

    # --- requests ---------------------------------------------------------------------

    def _open(self, peer: bytes, request: OpenSession) -> None:
        if request.session in self._sessions:
            raise ProtocolError(f"session {request.session} already exists")
        session = ExecSession(request.session, partial(self.send, peer), self._docker, self._config)
        self._sessions[request.session] = session
        self._owners[request.session] = peer
        self._spawn(self._run_session(peer, session, request))

    async def _run_session(self, peer: bytes, session: ExecSession, request: OpenSession) -> None:
        try:
            try:
                await session.open(request)
            except DtermError as exc:
                log.info("session %s: open failed: %s", session.id, exc)
                self._fail(peer, session.id, exc)
                return
            await session.wait_ended()
        finally:
            del self._sessions[session.id]
            del self._owners[session.id]

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
