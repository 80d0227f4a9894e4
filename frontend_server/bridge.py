"""SessionBridge: one browser connection's session, between its WebSocket and its worker.

The bridge turns checked browser requests into worker messages and worker
messages into browser frames. Output bytes go to the WebSocket untouched as
binary frames. It needs no buffer of its own: the worker never has more than
the flow-control window unacknowledged, and the browser's acks are forwarded
as they come, so at most one window per session is ever in flight here.

Concurrency: called only from the event loop, by the WebSocket handler and by
the worker link's receive task.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from enum import Enum
from typing import Protocol

from frontend_server import browser_protocol as bp
from frontend_server.pool import WorkerPool
from frontend_server.workers import WorkerLink
from shared.config import FrontendConfig
from shared.errors import ErrorCode, ProtocolError, Unavailable
from shared.protocol import (
    Ack,
    CloseSession,
    ExitReason,
    Failed,
    Input,
    OpenSession,
    Output,
    Resize,
    SessionExited,
    SessionOpened,
)

log = logging.getLogger(__name__)


class BrowserPeer(Protocol):
    """The WebSocket side, as the bridge sees it."""

    def send_text(self, text: str) -> None: ...
    def send_bytes(self, data: bytes) -> None: ...


class Phase(Enum):
    IDLE = "idle"  # no session yet, or the last one ended: `open` is allowed
    OPENING = "opening"
    OPEN = "open"


class SessionBridge:
    """At most one live session per browser connection (protocol v1)."""

    def __init__(self, browser: BrowserPeer, pool: WorkerPool, config: FrontendConfig) -> None:
        self._browser = browser
        self._pool = pool
        self._config = config
        self.phase = Phase.IDLE
        self.session_id = ""
        self._link: WorkerLink | None = None
        self._container = ""
        self._open_timer: asyncio.TimerHandle | None = None

    # --- from the browser -------------------------------------------------------------

    def open(self, request: bp.OpenRequest) -> None:
        if self.phase is not Phase.IDLE:
            raise ProtocolError("this connection already has a session; open another WebSocket")
        link = self._pool.link_for(request.host)
        session_id = secrets.token_urlsafe(18)
        link.listeners[session_id] = self
        try:
            link.send(
                OpenSession(
                    session_id,
                    request.container,
                    request.cmd,
                    request.user,
                    request.cols,
                    request.rows,
                )
            )
        except Unavailable:
            del link.listeners[session_id]
            raise
        self._link, self.session_id, self._container = link, session_id, request.container
        self.phase = Phase.OPENING
        self._open_timer = asyncio.get_running_loop().call_later(
            self._config.request_timeout, self._open_timed_out
        )
        log.info("session %s: opening %s on %s", session_id, request.container, link.host)

    def input(self, data: bytes) -> None:
        self._live_link().send(Input(self.session_id, data))

    def resize(self, cols: int, rows: int) -> None:
        self._live_link().send(Resize(self.session_id, cols, rows))

    def ack(self, offset: int) -> None:
        self._live_link().send(Ack(self.session_id, offset))

    def close(self) -> None:
        """End the session at the person's request; the worker answers with its exit."""
        self._live_link().send(CloseSession(self.session_id))

    def detach(self) -> None:
        """The WebSocket is gone: end the session and forget it."""
        if self.phase is Phase.IDLE or self._link is None:
            return
        try:
            self._link.send(CloseSession(self.session_id))
        except Unavailable:
            log.info("session %s: worker unreachable while closing", self.session_id)
        self._forget()

    def _live_link(self) -> WorkerLink:
        if self.phase is Phase.IDLE or self._link is None:
            raise ProtocolError("no session on this connection: send an open message first")
        return self._link

    def _forget(self) -> None:
        if self._link is not None:
            self._link.listeners.pop(self.session_id, None)
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

    def on_opened(self, message: SessionOpened) -> None:
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        self.phase = Phase.OPEN
        host = self._link.host if self._link else ""
        self._browser.send_text(
            bp.opened(self.session_id, host or "", self._container, message.offset, message.window)
        )

    def on_output(self, message: Output) -> None:
        self._browser.send_bytes(message.data)

    def on_exited(self, message: SessionExited) -> None:
        self._browser.send_text(bp.exited(message.code, message.reason))
        self._forget()

    def on_host_lost(self, why: str) -> None:
        self._browser.send_text(bp.exited(None, ExitReason.HOST_LOST, why))
        self._forget()

    def on_failed(self, message: Failed) -> None:
        self._browser.send_text(bp.error(message.code, message.message))
        if self.phase is Phase.OPENING:
            self._forget()
