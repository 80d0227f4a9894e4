"""Links to exec workers: one DEALER socket per worker, its liveness and its containers.

A WorkerLink says Hello every heartbeat interval; each Welcome carries the host id,
the worker's instance and daemon facts, and makes the host "up" (from the moment its
containers are known, so nobody is told "no such container" in between). A host that
sends nothing at all (no Welcome, no output) for MISSED_HEARTBEATS intervals is down:
a Welcome may wait behind a busy session's output, and that output says the worker
lives as well. A Welcome from a new instance means the worker restarted. Either way
its sessions are gone, and their listeners are told `host-lost`. ZMTP heartbeats run
underneath, so a dead TCP connection is dropped and redialled by ZeroMQ without our
help. A handshake the worker refuses (a key it does not allow, a worker key that is
not its own) is read from the socket's monitor events (link_monitor.py): it is the
host's reason in /api/hosts and a log line, and a refused key is tried again.

Each link mirrors its host's containers (container_feed.py): a snapshot plus the
numbered changes after it. Changes go to the pool's subscribers (the page's event
stream). Requests wait for their replies in pending_requests.py.

Sends never block: the DEALER has IMMEDIATE set, so with no live connection a send
fails at once with Unavailable instead of queueing for a worker that may never come.
One exception: a worker handing its sessions to a new process (protocol 4) says
Pause; from then on what is sent to it is held here, in order and bounded, until
the next Welcome (from the new process, or the old one if the handover failed), so
keystrokes typed meanwhile arrive once and in order. Hello goes out on every new
connection, so a worker that comes back hears of this front end at once.

Concurrency: one event loop; each link owns one task (heartbeat) and a SocketPump.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

import zmq

from frontend_server.container_feed import ContainerFeed
from frontend_server.held_sends import HeldSends
from frontend_server.link_health import LinkKeyFiles
from frontend_server.link_monitor import LinkMonitor
from frontend_server.pending_requests import PendingRequests
from frontend_server.pool_events import (
    ContainerUpdated,
    HostChanged,
    HostStatus,
    PoolEvent,
)
from shared.errors import DtermError, Unavailable
from shared.messages import (
    ContainerChanged,
    ContainerInfo,
    ContainersListed,
    Detached,
    DetachSession,
    Failed,
    FindSession,
    Hello,
    IdleWarning,
    InputAck,
    ListSessions,
    Message,
    Output,
    Pause,
    Paused,
    SessionExited,
    SessionFound,
    SessionInfo,
    SessionOpened,
    SessionResized,
    SessionsListed,
    WatchersChanged,
    Welcome,
)
from shared.observe_messages import StatsRead
from shared.protocol import OLDEST_PROTOCOL, PROTOCOL_VERSION, decode, encode
from shared.revocation_messages import RevokeSignIns, SignInsRevoked
from shared.revocations import Revocations, in_batches
from shared.security import ClientKeys
from shared.settings import FrontendConfig
from shared.transfer_messages import (
    FileAbort,
    FileAck,
    FileData,
    FileEnd,
    FileOpened,
    FileStored,
    RecordingsListed,
)
from shared.zmq_io import SocketPump

log = logging.getLogger(__name__)
MISSED_HEARTBEATS = 3  # Welcome answers missed before a host counts as down


class SessionListener(Protocol):
    """What a link calls for one attachment's traffic (implemented by SessionBridge)."""

    def on_message(self, message: Message) -> None: ...
    def on_host_lost(self, why: str) -> None: ...


class WorkerLink:
    """One worker, reached through one DEALER socket."""

    def __init__(
        self,
        endpoint: str,
        context: zmq.Context[Any],
        frontend_id: str,
        config: FrontendConfig,
        notify: Callable[[PoolEvent], None],
        revoked: Revocations,
        keys: ClientKeys,
    ) -> None:
        self.endpoint = endpoint
        self._revoked = revoked
        self.facts: Welcome | None = None
        self.up = False
        self.since = time.time()
        self.listeners: dict[str, SessionListener] = {}
        self.feed = ContainerFeed(self.send, endpoint)
        self._frontend_id = frontend_id
        self._config = config
        self._notify = notify
        self._requests = PendingRequests()
        self._last_heard = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._held = HeldSends()  # what is sent while the worker hands over
        self._socket = context.socket(zmq.DEALER)
        for option, value in (
            (zmq.ROUTING_ID, frontend_id.encode()),
            (zmq.IMMEDIATE, 1),
            (zmq.SNDHWM, 0),
            (zmq.RCVHWM, 0),
            (zmq.LINGER, 0),
            (zmq.RECONNECT_IVL, 100),
            (zmq.RECONNECT_IVL_MAX, 2000),
            (zmq.HEARTBEAT_IVL, int(config.heartbeat_interval * 1000)),
            (zmq.HEARTBEAT_TIMEOUT, int(config.heartbeat_interval * 1000 * MISSED_HEARTBEATS)),
        ):
            self._socket.setsockopt(option, value)
        keys.apply(self._socket)
        self._socket.connect(endpoint)
        key_files = LinkKeyFiles.of(config.curve_secret_key, config.worker_public_key)
        self._monitor = LinkMonitor(self._socket, endpoint, key_files, lambda: self.host,
                                    self.status, notify, self._greet)  # fmt: skip

    @property
    def host(self) -> str | None:
        return self.facts.host if self.facts else None

    def status(self) -> HostStatus:
        return HostStatus(
            self.host or "", self.endpoint, self.up, self.since, self.facts, self._monitor.problem
        )

    def start(self) -> None:
        self._pump = SocketPump(self._socket, self._receive)
        self._monitor.start()
        self._tasks = [asyncio.create_task(self._heartbeat_loop())]

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._lose_host("the front end no longer knows this worker")
        self._monitor.close()
        self._pump.close()

    def _greet(self) -> None:
        """A new connection: a worker that is back hears of this front end at once."""
        with contextlib.suppress(Unavailable):
            self.send(self._hello())

    # --- sending --------------------------------------------------------------------

    def send(self, message: Message) -> None:
        """Send now or raise Unavailable; never queue for a worker that is not there
        (but hold what comes while it hands over, see Pause)."""
        frames = encode(message)
        if self._held.holding and not isinstance(message, Hello | Paused):
            self._held.hold(frames, self.host or self.endpoint)
            return
        try:
            self._pump.send(frames)
        except zmq.ZMQError as exc:
            raise Unavailable(f"worker {self.host or self.endpoint} is not reachable") from exc

    async def request(self, message: Message, request_id: str) -> Message:
        """Send a request and wait for its reply (or Failed, raised as its typed error)."""
        who = self.host or self.endpoint
        send = functools.partial(self.send, message)
        return await self._requests.ask(send, request_id, self._config.request_timeout, who)

    async def find_session(self, session: str) -> SessionFound:
        """Where a session runs and whose it is (NotFound when it is not there)."""
        request_id = secrets.token_hex(8)
        reply = await self.request(FindSession(request_id, session), request_id)
        assert isinstance(reply, SessionFound)
        return reply

    async def list_sessions(self, person: str) -> list[SessionInfo]:
        request_id = secrets.token_hex(8)
        reply = await self.request(ListSessions(request_id, person), request_id)
        assert isinstance(reply, SessionsListed)
        return reply.sessions

    # --- liveness -------------------------------------------------------------------

    @property
    def heartbeat_interval(self) -> float:
        """Ours, or a third of the worker's peer timeout if that is shorter: a worker
        must never take a quiet front end for a gone one."""
        interval = self._config.heartbeat_interval
        if self.facts is not None:
            interval = min(interval, self.facts.peer_timeout_ms / 1000 / MISSED_HEARTBEATS)
        return interval

    def _hello(self) -> Hello:
        return Hello(self._frontend_id, PROTOCOL_VERSION, OLDEST_PROTOCOL)

    async def _heartbeat_loop(self) -> None:
        hello = self._hello()
        while True:
            with contextlib.suppress(Unavailable):  # not connected yet; ZeroMQ retries
                self.send(hello)
            self._check_alive()
            await asyncio.sleep(self.heartbeat_interval)

    def _check_alive(self) -> None:
        silence = time.monotonic() - self._last_heard
        if self.up and silence > self.heartbeat_interval * MISSED_HEARTBEATS:
            self._set_up(False)
            self._lose_host(f"nothing heard from it for {silence:.1f} s")

    def _set_up(self, up: bool) -> None:
        self.up, self.since = up, time.time()
        log.info("worker %s (%s) is %s", self.host, self.endpoint, "up" if up else "down")
        if up:
            self._sync_revocations()
        self._notify(HostChanged(self.status(), [] if not up else None))

    def _pause(self, token: str) -> None:
        """The worker hands over: hold what is sent from now on; say so at once."""
        self._held.start()
        with contextlib.suppress(Unavailable):
            self.send(Paused(token))

    def _resume(self) -> None:
        """A Welcome after a pause: what was held goes first, in order."""
        held = self._held.release()
        for frames in held:
            try:
                self._pump.send(frames)
            except zmq.ZMQError:
                log.warning("worker %s: %d held messages not sent", self.host, len(held))
                break

    def _lose_host(self, why: str) -> None:
        """The worker's sessions and containers are gone from our view: say so."""
        self._held.release()
        listeners, self.listeners = self.listeners, {}
        for listener in listeners.values():
            listener.on_host_lost(f"lost contact with host {self.host or self.endpoint}: {why}")
        self._requests.fail_all(f"host {self.host or self.endpoint} lost")
        self.feed.forget()

    def _welcome(self, message: Welcome) -> None:
        if not OLDEST_PROTOCOL <= message.protocol <= PROTOCOL_VERSION:
            log.error("worker %s chose protocol %d, which this front end does not speak",
                      self.endpoint, message.protocol)  # fmt: skip
            return
        restarted = self.facts is not None and self.facts.instance != message.instance
        if restarted:
            log.info("worker %s (%s) restarted", message.host, self.endpoint)
            if self.up:
                self._set_up(False)
            self._lose_host("the worker restarted")
        if self._held.holding:
            self._resume()
        changed = self.facts != message
        self.facts = message
        if not self.feed.mirror.synced and not self.feed.sync_request:
            self.feed.ask_snapshot()
        elif not self.up and self.feed.mirror.synced:
            self._set_up(True)
        elif changed and self.up:
            self._notify(HostChanged(self.status(), None))

    def _sync_revocations(self) -> None:
        """A worker that comes up (new, restarted or reachable again) learns the
        sign-ins this front end knows are over, and answers with those it knows."""
        entries = self._revoked.entries(time.time())
        with contextlib.suppress(Unavailable):
            for batch in in_batches(entries) or [[]]:
                self.send(RevokeSignIns(batch, True))

    # --- containers -------------------------------------------------------------------

    def find(self, reference: str) -> ContainerInfo | None:
        return self.feed.find(reference)

    @property
    def containers(self) -> dict[str, ContainerInfo]:
        return self.feed.containers

    async def wait_for(self, reference: str, within: float) -> ContainerInfo | None:
        return await self.feed.wait_for(reference, within)

    def _apply_snapshot(self, message: ContainersListed) -> None:
        """The host's containers; a host counts as up once they are known."""
        self.feed.take_snapshot(message)
        if not self.up:
            self._set_up(True)
        self._notify(HostChanged(self.status(), list(self.containers.values())))

    # --- receiving ------------------------------------------------------------------

    def _receive(self, frames: list[bytes]) -> None:
        try:
            message = decode(frames)
            self._last_heard = time.monotonic()  # any word from the worker says it lives
            self._dispatch(message)
        except DtermError as exc:
            log.warning("bad message from worker %s: %s", self.endpoint, exc)

    def _dispatch(self, message: Message) -> None:
        match message:
            case (
                Output() | SessionOpened() | SessionResized() | WatchersChanged() | IdleWarning()
                | InputAck()
            ):  # fmt: skip
                self._to_listener(message.attachment, message)
            case SessionExited() | Detached():
                self._to_listener(message.attachment, message)
                self.listeners.pop(message.attachment, None)
            case FileOpened() | FileData() | FileAck() | FileEnd() | FileStored() | FileAbort():
                self._to_listener(message.request, message)
            case Failed(ref=ref) if ref in self._requests:
                self._requests.answer(ref, message)
            case Failed(ref=ref) if ref in self.listeners:
                self.listeners[ref].on_message(message)
            case Failed():
                log.warning("worker %s: %s: %s", self.host, message.code, message.message)
            case ContainersListed(request=ref) if ref == self.feed.sync_request:
                self._apply_snapshot(message)
            case (
                ContainersListed(request=ref) | SessionsListed(request=ref)
                | RecordingsListed(request=ref) | SessionFound(request=ref) | StatsRead(request=ref)
            ) if ref in self._requests:  # fmt: skip
                self._requests.answer(ref, message)
            case ContainerChanged():
                if self.feed.apply(message):
                    self._notify(ContainerUpdated(self.host or "", message.id, message.container))
            case SignInsRevoked(entries=entries):
                self._revoked.add(entries, time.time())
            case Welcome():
                self._welcome(message)
            case Pause(token=token):
                self._pause(token)
            case _:
                log.debug("worker %s: unexpected %s", self.endpoint, message.TAG)

    def _to_listener(self, attachment: str, message: Message) -> None:
        listener = self.listeners.get(attachment)
        if listener is not None:
            listener.on_message(message)
        elif isinstance(message, SessionOpened):
            log.info("session %s: attached after its browser left; detaching", message.session)
            with contextlib.suppress(Unavailable):
                self.send(DetachSession(attachment))
