"""SessionBridge: one browser connection's part in a session, between WebSocket and worker.

The bridge turns checked browser requests into worker messages and worker messages
into browser frames. Output bytes go to the WebSocket untouched as binary frames.
It needs no buffer of its own: the worker never has more than the flow-control
window unacknowledged, and the browser's acks are forwarded as they come.

A connection takes part as the owner (open, or attach read-write to resume) or as
a watcher (attach read-only). When the WebSocket goes, the bridge detaches: the
session goes on, and can be resumed through any front end, because the session id
names its host (`<token>@<host>`).

Concurrency: called only from the event loop, by the WebSocket handler and by the
worker link's receive task.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from enum import Enum
from typing import Any, Protocol

from frontend_server import browser_protocol as bp
from frontend_server import metrics
from frontend_server.context import Services
from frontend_server.guard import Grant, replicas
from frontend_server.policy import Person
from frontend_server.services import service_json
from frontend_server.worker_link import WorkerLink
from shared.errors import DtermError, ErrorCode, ProtocolError, Unavailable
from shared.messages import (
    Ack,
    AttachSession,
    CloseSession,
    ContainerInfo,
    Detached,
    DetachSession,
    EndInput,
    ExitReason,
    Failed,
    IdleWarning,
    Input,
    InputAck,
    Message,
    Mode,
    OpenSession,
    Output,
    Resize,
    SessionExited,
    SessionOpened,
    SessionResized,
    WatchersChanged,
)
from shared.session_id import SessionId
from shared.settings import ack_step

log = logging.getLogger(__name__)
NEW_CONTAINER_WAIT = 2.0
"""Seconds an open waits for a container its host has not reported (yet): a container
reaches the front end's mirror a fraction of a second after it starts."""


class BrowserPeer(Protocol):
    """The WebSocket side, as the bridge sees it."""

    def send_text(self, text: str) -> None: ...
    def send_bytes(self, data: bytes) -> None: ...


class Phase(Enum):
    IDLE = "idle"  # no session yet, or the last one ended: open/attach allowed
    OPENING = "opening"
    OPEN = "open"


class SessionBridge:
    """At most one session per browser connection (protocol v1)."""

    def __init__(
        self, browser: BrowserPeer, services: Services, person: Person, address: str
    ) -> None:
        self._browser = browser
        self._pool = services.pool
        self._guard = services.guard
        self._config = services.config
        self._person = person
        self._address = address
        self.phase = Phase.IDLE
        self.attachment = ""
        self._link: WorkerLink | None = None
        self._opening_new = False
        self._next_offset = 0
        self._acked = 0  # passed on to the worker
        self._consumed = 0  # acked by the browser (at most what it was sent)
        self._held = False
        self._window = 0
        self._typed_at = 0.0
        self._asked_at = 0.0
        self._open_timer: asyncio.TimerHandle | None = None
        self._looking: asyncio.Task[None] | None = None  # a container or a policy check
        self._size = (0, 0)  # the size to open at, while looking
        self._service: dict[str, Any] | None = None  # the service a session was opened by

    # --- from the browser -------------------------------------------------------------

    def open(self, request: bp.OpenRequest) -> None:
        if request.service is not None:
            self._begin()
            self.phase = Phase.OPENING  # a second open is refused meanwhile
            self._size = (request.cols, request.rows)
            self._looking = asyncio.create_task(self._open_service(request))
            return
        self._service = None
        link = self._start(request.host, "open")
        found = link.find(request.container)
        if found is None or found.state == "created" or not self._sees(link, found):
            # not started yet (`docker run`), or hidden: answered as late as an absent one
            self.phase = Phase.OPENING  # a second open is refused meanwhile
            self._size = (request.cols, request.rows)
            self._looking = asyncio.create_task(self._open_once_listed(link, request))
            return
        self._open(link, request)

    async def _open_once_listed(self, link: WorkerLink, request: bp.OpenRequest) -> None:
        """A container the host has not reported yet may have just started: wait for it
        a little, then open it (at the latest size asked meanwhile) or say it is not there.
        One hidden from the person is not there for them: no sooner refused than a name
        that does not exist, so the time of the answer does not tell it exists."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + NEW_CONTAINER_WAIT
        found = await link.wait_for(request.container, NEW_CONTAINER_WAIT)
        if found is not None and not self._sees(link, found):
            await asyncio.sleep(max(0.0, deadline - loop.time()))
        self.phase, self._looking = Phase.IDLE, None
        cols, rows = self._size
        try:
            self._open(link, dataclasses.replace(request, cols=cols, rows=rows))
        except DtermError as exc:
            self._browser.send_text(bp.error(exc.code, str(exc)))

    async def _open_service(self, request: bp.OpenRequest) -> None:
        """Open in a running replica of the service, waiting a little for one: a
        redeploy stops the old containers a moment before the new ones run."""
        query = request.service
        assert query is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + NEW_CONTAINER_WAIT
        while (left := deadline - loop.time()) > 0 and not any(
            info.state == "running" and self._sees(link, info)  # hidden ones are not there
            for link, info in replicas(self._pool.links, query, request.host)
        ):
            await self._pool.wait_for_change(left)
        self.phase, self._looking = Phase.IDLE, None
        cols, rows = self._size
        try:
            found = replicas(self._pool.links, query, request.host)
            link, grant = self._guard.for_service(
                self._person, found, query, request.cmd, request.user, self._address
            )
            self._service = service_json(grant.container.labels)
            self._send_open(link, grant, dataclasses.replace(request, cols=cols, rows=rows))
        except DtermError as exc:
            self._browser.send_text(bp.error(exc.code, str(exc)))

    def _sees(self, link: WorkerLink, info: ContainerInfo) -> bool:
        return self._guard.visible(self._person, link.host or "", info)

    def _open(self, link: WorkerLink, request: bp.OpenRequest) -> None:
        grant = self._guard.for_open(
            self._person, link, request.container, request.cmd, request.user, self._address
        )
        self._send_open(link, grant, request)

    def _send_open(self, link: WorkerLink, grant: Grant, request: bp.OpenRequest) -> None:
        session = str(SessionId.new(link.host or link.endpoint))
        message = OpenSession(
            session=session, attachment=self.attachment, person=self._person.name,
            address=self._address, container=grant.container.id, cmd=request.cmd,
            user=request.user, workdir=request.workdir, cols=request.cols, rows=request.rows,
            recording=grant.recording, record_input=grant.record_input, tty=request.tty,
        )  # fmt: skip
        self._send_first(link, True, message)
        log.info("session %s: opening %s for %s", session, grant.container.name, self._person.name)

    def attach(self, request: bp.AttachRequest) -> None:
        link = self._start(SessionId.parse(request.session).host, f"attach-{request.mode}")
        self._service = None
        self.phase = Phase.OPENING  # a second open or attach is refused meanwhile
        self._looking = asyncio.create_task(self._attach_once_allowed(link, request))

    async def _attach_once_allowed(self, link: WorkerLink, request: bp.AttachRequest) -> None:
        """Ask where the session runs and judge the policy there before the worker
        attaches anyone: a refusal never reaches the session."""
        try:
            try:
                found = await link.find_session(request.session)
            except DtermError as exc:
                self._guard.audit.record("attach", user=self._person.name, ok=False,
                                         address=self._address, session=request.session,
                                         mode=request.mode, reason=str(exc))  # fmt: skip
                raise
            self._guard.for_join(self._person, link, found.container, request.mode, self._address)
            self.phase, self._looking = Phase.IDLE, None
            message = AttachSession(
                session=request.session, attachment=self.attachment, person=self._person.name,
                address=self._address, container=found.container, offset=request.offset,
                mode=Mode(request.mode), token=request.token,
            )  # fmt: skip
            self._send_first(link, False, message)
        except DtermError as exc:
            self.phase, self._looking = Phase.IDLE, None
            self._browser.send_text(bp.error(exc.code, str(exc)))

    def _start(self, host: str | None, action: str) -> WorkerLink:
        self._begin()
        return self._guard.link(self._person, self._pool, host, self._address, action)

    def _begin(self) -> None:
        if self.phase is not Phase.IDLE:
            raise ProtocolError("this connection already has a session; open another WebSocket")
        self.attachment = secrets.token_urlsafe(12)

    def _send_first(self, link: WorkerLink, new: bool, message: Message) -> None:
        link.listeners[self.attachment] = self
        try:
            link.send(message)
        except Unavailable:
            del link.listeners[self.attachment]
            raise
        self._link, self._opening_new, self.phase = link, new, Phase.OPENING
        self._asked_at = time.perf_counter()
        self._open_timer = asyncio.get_running_loop().call_later(
            self._config.request_timeout, self._open_timed_out
        )

    def input(self, data: bytes) -> None:
        self._live_link().send(Input(self.attachment, data))
        metrics.BYTES.inbound += len(data)
        if not self._typed_at:
            self._typed_at = time.perf_counter()

    def end_input(self) -> None:
        """The owner's input has ended (a session without a tty)."""
        self._live_link().send(EndInput(self.attachment))

    def resize(self, cols: int, rows: int) -> None:
        if self._looking is not None:
            self._size = (cols, rows)
            return
        self._live_link().send(Resize(self.attachment, cols, rows))

    def ack(self, offset: int) -> None:
        """What the browser consumed, never counted beyond what it was sent (a client
        acking bytes it never read would otherwise grow every hop's buffers)."""
        if self.phase is not Phase.OPEN:
            return  # an ack racing the session's start or end: nothing to pace
        self._consumed = max(self._consumed, min(offset, self._next_offset))
        self._pass_acks_on()

    def hold_output(self, held: bool) -> None:
        """The browser's socket is behind (its transport paused writing): acks wait, so
        the worker sends nothing more than the window until the socket drains."""
        self._held = held
        if not held and self.phase is Phase.OPEN:
            self._pass_acks_on()

    def _pass_acks_on(self) -> None:
        """Pass acks on only every quarter window: the worker needs them to keep going,
        not one per keystroke echo. Safe: the worker stops only with a whole window
        unacknowledged, and consuming that window crosses the quarter mark."""
        if not self._held and self._consumed - self._acked >= ack_step(self._window):
            self._acked = self._consumed
            self._live_link().send(Ack(self.attachment, self._consumed))

    def close(self) -> None:
        """End the session at the owner's request; the worker answers with its exit."""
        self._live_link().send(CloseSession(self.attachment))

    def detach(self) -> None:
        """The WebSocket is gone: the session goes on without this connection.
        A session this connection was still creating is closed: nobody knows its id."""
        if self._looking is not None:
            self._looking.cancel()
        if self.phase is Phase.IDLE or self._link is None:
            return
        closing = self.phase is Phase.OPENING and self._opening_new
        message = CloseSession(self.attachment) if closing else DetachSession(self.attachment)
        with contextlib.suppress(Unavailable):
            self._link.send(message)
        self._forget()

    def _live_link(self) -> WorkerLink:
        if self.phase is Phase.IDLE or self._link is None:
            raise ProtocolError("no session on this connection: send an open message first")
        return self._link

    def _forget(self) -> None:
        if self.phase is Phase.OPEN:
            metrics.SESSIONS_OPEN.dec()
        if self._link is not None:
            self._link.listeners.pop(self.attachment, None)
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        self.phase = Phase.IDLE
        self._link = None

    def _open_timed_out(self) -> None:
        if self.phase is Phase.OPENING:
            self._browser.send_text(bp.error(ErrorCode.UNAVAILABLE, "the worker did not answer"))
            self.detach()

    # --- from the worker -----------------------------------------------------------

    def on_message(self, message: Message) -> None:
        match message:
            case Output(offset=offset, data=data):
                metrics.BYTES.outbound += len(data)
                if self._typed_at:
                    metrics.KEYSTROKE_SECONDS.observe(time.perf_counter() - self._typed_at)
                    self._typed_at = 0.0
                if offset > self._next_offset:
                    self._browser.send_text(bp.skipped(offset - self._next_offset))
                self._next_offset = offset + len(data)
                self._browser.send_bytes(data)
            case SessionOpened():
                self._on_opened(message)
            case SessionExited(code=code, reason=reason, message=text):
                metrics.SESSIONS_CLOSED.labels(reason.value).inc()
                self._browser.send_text(bp.exited(code, reason, text))
                self._forget()
            case Failed(code=code, message=text):
                self._browser.send_text(bp.error(code, text))
                if self.phase is Phase.OPENING:
                    self._forget()
            case Detached(message=text):
                self._browser.send_text(bp.detached(text))
                self._forget()
            case WatchersChanged(watchers=watchers):
                self._browser.send_text(bp.watchers(watchers))
            case IdleWarning(seconds=seconds):
                self._browser.send_text(bp.idle_warning(seconds))
            case SessionResized(cols=cols, rows=rows):
                self._browser.send_text(bp.size(cols, rows))
            case InputAck(offset=offset):
                self._browser.send_text(bp.input_ack(offset))

    def _on_opened(self, message: SessionOpened) -> None:
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        self.phase = Phase.OPEN
        metrics.SESSIONS_OPEN.inc()
        metrics.SESSIONS_OPENED.labels(message.mode.value).inc()
        metrics.OPEN_SECONDS.observe(time.perf_counter() - self._asked_at)
        self._next_offset = self._acked = self._consumed = message.offset
        self._window = message.window
        service = self._service if message.mode is Mode.RW else None
        host = self._link.host or "" if self._link else ""
        self._browser.send_text(bp.opened(message, host, service))

    def on_host_lost(self, why: str) -> None:
        self._browser.send_text(bp.exited(None, ExitReason.HOST_LOST, why))
        self._forget()
