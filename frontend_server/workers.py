"""Links to exec workers: one DEALER socket per worker, replies routed to their waiters.

A WorkerLink says Hello every heartbeat interval; the worker's Welcome carries its
host id and daemon facts and is what marks the host up. Replies to requests
(list, open) resolve futures keyed by request id; session traffic goes to the
SessionListener registered under the session id. Sends never block: the DEALER
has IMMEDIATE set, so with no live connection a send fails at once with
Unavailable instead of queueing for a worker that may never come.

Concurrency: one event loop; each link owns two tasks (receive, hello).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol, cast

import zmq
import zmq.asyncio

from shared.config import FrontendConfig
from shared.errors import DtermError, NotFound, ProtocolError, Unavailable, error_from_code
from shared.protocol import (
    PROTOCOL_VERSION,
    CloseSession,
    ContainerInfo,
    ContainersListed,
    Failed,
    Hello,
    ListContainers,
    Message,
    Output,
    SessionExited,
    SessionOpened,
    Welcome,
    decode,
    encode,
)

log = logging.getLogger(__name__)

MISSED_HEARTBEATS = 3  # Welcome answers missed before a host counts as down


class SessionListener(Protocol):
    """What a link calls for traffic of one session (implemented by SessionBridge)."""

    def on_opened(self, message: SessionOpened) -> None: ...
    def on_output(self, message: Output) -> None: ...
    def on_exited(self, message: SessionExited) -> None: ...
    def on_failed(self, message: Failed) -> None: ...


@dataclass(frozen=True, slots=True)
class HostStatus:
    host: str
    endpoint: str
    up: bool
    since: float
    """Wall-clock time of the last change between up and down."""
    facts: Welcome | None


class WorkerLink:
    """One worker, reached through one DEALER socket."""

    def __init__(
        self, endpoint: str, context: zmq.asyncio.Context, frontend_id: str, config: FrontendConfig
    ) -> None:
        self.endpoint = endpoint
        self.facts: Welcome | None = None
        self.listeners: dict[str, SessionListener] = {}
        self._frontend_id = frontend_id
        self._config = config
        self._requests: dict[str, asyncio.Future[Message]] = {}
        self._last_welcome = 0.0
        self._since = time.time()
        self._was_up = False
        self._tasks: list[asyncio.Task[None]] = []
        self._socket = context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.ROUTING_ID, frontend_id.encode())
        self._socket.setsockopt(zmq.IMMEDIATE, 1)
        self._socket.setsockopt(zmq.SNDHWM, 0)
        self._socket.setsockopt(zmq.RCVHWM, 0)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(endpoint)

    @property
    def host(self) -> str | None:
        return self.facts.host if self.facts else None

    @property
    def up(self) -> bool:
        window = self._config.heartbeat_interval * MISSED_HEARTBEATS
        return self.facts is not None and time.monotonic() - self._last_welcome < window

    def status(self) -> HostStatus:
        self._note_change()
        return HostStatus(self.host or "", self.endpoint, self.up, self._since, self.facts)

    def _note_change(self) -> None:
        up = self.up
        if up != self._was_up:
            self._was_up, self._since = up, time.time()
            log.info("worker %s (%s) is %s", self.host, self.endpoint, "up" if up else "down")

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._receive_loop()),
            asyncio.create_task(self._hello_loop()),
        ]

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for future in self._requests.values():
            future.cancel()
        self._socket.close()

    # --- sending --------------------------------------------------------------------

    def send(self, message: Message) -> None:
        """Send now or raise Unavailable; never queue for a worker that is not there."""
        # zmq.asyncio reports a failed non-blocking send in the returned future.
        sent = cast(asyncio.Future[Any], self._socket.send_multipart(encode(message), zmq.NOBLOCK))
        if not sent.done():
            sent.add_done_callback(self._check_sent)
            return
        if sent.exception() is not None:
            raise Unavailable(f"worker {self.host or self.endpoint} is not reachable")

    def _check_sent(self, sent: asyncio.Future[Any]) -> None:
        if not sent.cancelled() and sent.exception() is not None:
            log.warning("worker %s: a message was not sent: %s", self.endpoint, sent.exception())

    async def request(self, message: Message, request_id: str) -> Message:
        """Send a request and wait for its reply (or Failed, raised as its typed error)."""
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._requests[request_id] = future
        try:
            self.send(message)
            reply = await asyncio.wait_for(future, self._config.request_timeout)
        except TimeoutError:
            raise Unavailable(f"worker {self.host or self.endpoint} did not answer") from None
        finally:
            self._requests.pop(request_id, None)
        if isinstance(reply, Failed):
            raise error_from_code(reply.code, reply.message)
        return reply

    async def list_containers(self) -> list[ContainerInfo]:
        request_id = secrets.token_hex(8)
        reply = await self.request(ListContainers(request_id), request_id)
        if not isinstance(reply, ContainersListed):
            raise ProtocolError(f"expected a container list, got {reply.TAG}")
        return reply.containers

    # --- receiving ------------------------------------------------------------------

    async def _hello_loop(self) -> None:
        hello = Hello(self._frontend_id, PROTOCOL_VERSION)
        while True:
            with contextlib.suppress(Unavailable):  # not connected yet; ZeroMQ retries
                self.send(hello)
            self._note_change()
            await asyncio.sleep(self._config.heartbeat_interval)

    async def _receive_loop(self) -> None:
        while True:
            frames = await self._socket.recv_multipart()
            try:
                self._dispatch(decode(frames))
            except DtermError as exc:
                log.warning("bad message from worker %s: %s", self.endpoint, exc)
            except Exception:
                log.exception("unexpected error handling a message from %s", self.endpoint)

    def _dispatch(self, message: Message) -> None:
        match message:
            case Output(session=sid):
                listener = self.listeners.get(sid)
                if listener is not None:
                    listener.on_output(message)
            case SessionOpened(session=sid) if sid in self.listeners:
                self.listeners[sid].on_opened(message)
            case SessionOpened(session=sid):
                log.info("session %s: opened after its browser left; closing it", sid)
                self.send(CloseSession(sid))
            case SessionExited(session=sid):
                listener = self.listeners.pop(sid, None)
                if listener is not None:
                    listener.on_exited(message)
            case Failed(ref=ref) if ref in self._requests:
                self._requests[ref].set_result(message)
            case Failed(ref=ref) if ref in self.listeners:
                self.listeners[ref].on_failed(message)
            case Failed():
                log.warning("worker %s: %s: %s", self.host, message.code, message.message)
            case ContainersListed(request=ref) if ref in self._requests:
                self._requests[ref].set_result(message)
            case Welcome():
                self._welcome(message)
            case _:
                log.debug("worker %s: unexpected %s", self.endpoint, message.TAG)

    def _welcome(self, message: Welcome) -> None:
        if message.protocol != PROTOCOL_VERSION:
            log.error("worker %s speaks protocol %d", self.endpoint, message.protocol)
            return
        self.facts = message
        self._last_welcome = time.monotonic()
        self._note_change()


class WorkerPool:
    """Every worker this front end knows, by endpoint and by host id."""

    def __init__(self, config: FrontendConfig, context: zmq.asyncio.Context) -> None:
        self.frontend_id = f"fe-{secrets.token_hex(6)}"
        self.links = [WorkerLink(ep, context, self.frontend_id, config) for ep in config.workers]

    def start(self) -> None:
        for link in self.links:
            link.start()

    def close(self) -> None:
        for link in self.links:
            link.close()

    def statuses(self) -> list[HostStatus]:
        return [link.status() for link in self.links]

    def link_for(self, host: str | None) -> WorkerLink:
        """The link serving `host`; None picks the only host when there is just one."""
        known = [link for link in self.links if link.host is not None]
        if host is None:
            if len(known) != 1:
                raise NotFound(f"say which host: this front end knows {len(known)}")
            link = known[0]
        else:
            found = [link for link in known if link.host == host]
            if not found:
                raise NotFound(f"no host {host!r}")
            link = found[0]
        if not link.up:
            raise Unavailable(f"host {link.host} is down")
        return link

    async def list_containers(self) -> list[tuple[HostStatus, list[ContainerInfo] | DtermError]]:
        """Every up host's containers, gathered at once; a failing host gives its error."""

        async def one(link: WorkerLink) -> list[ContainerInfo] | DtermError:
            try:
                return await link.list_containers()
            except DtermError as exc:
                return exc

        statuses = self.statuses()
        results: list[Any] = await asyncio.gather(
            *(
                one(link) if status.up else _down(status)
                for link, status in zip(self.links, statuses, strict=True)
            )
        )
        return list(zip(statuses, results, strict=True))


async def _down(status: HostStatus) -> DtermError:
    return Unavailable(f"host {status.host or status.endpoint} is down")
