"""The WebSocket handler of /ws/exec: auth, Origin, frame checks, then hand off.

Thin by design: it refuses unauthenticated upgrades and foreign Origins (cross-site
WebSocket hijacking is the classic hole of web terminals), checks frame sizes,
parses control frames with browser_protocol and passes everything to its
SessionBridge. A bad frame is answered with an `error` message and ends only that
message; the connection and its session go on.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from tornado.web import HTTPError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from frontend_server import browser_protocol as bp
from frontend_server import metrics
from frontend_server.auth import client_address
from frontend_server.bridge import SessionBridge
from frontend_server.context import Services
from frontend_server.policy import Person
from frontend_server.ws_frames import binary_frame
from shared.errors import DtermError, TooLarge

log = logging.getLogger(__name__)


class TerminalSocket(WebSocketHandler):
    def initialize(self, services: Services) -> None:
        self._services = services
        self._config = services.config
        self._bridge: SessionBridge | None = None

    def get_current_user(self) -> Person | None:
        return self._services.auth.person_of(self)

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not self.current_user:
            raise HTTPError(401, "sign in first")
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        """Same origin as the page, or one of the configured origins."""
        if origin.rstrip("/") in self._config.allowed_origins:
            return True
        allowed = urlsplit(origin).netloc.lower() == self.request.host.lower()
        if not allowed:
            log.warning("refused a WebSocket from origin %s", origin)
        return allowed

    def open(self, *args: str, **kwargs: str) -> None:
        self.set_nodelay(True)
        metrics.CONNECTIONS.inc()
        self._services.connections.add(self)
        address = client_address(self, self._services.auth)
        self._bridge = SessionBridge(self, self._services, self.current_user, address)

    def on_message(self, message: str | bytes) -> None:
        if self._bridge is None:
            return  # closing: the session is already handed back
        try:
            if isinstance(message, bytes):
                if len(message) > self._config.max_input_frame:
                    raise TooLarge(
                        f"input frame of {len(message)} bytes; the limit is "
                        f"{self._config.max_input_frame}"
                    )
                self._bridge.input(message)
            else:
                if len(message) > self._config.max_control_frame:
                    raise TooLarge(f"control frame over {self._config.max_control_frame} bytes")
                self._control(bp.parse_control(message))
        except DtermError as exc:
            log.info("connection %s: %s", self.request.remote_ip, exc)
            self.send_text(bp.error(exc.code, str(exc)))

    def _control(self, message: bp.ControlMessage) -> None:
        assert self._bridge is not None
        match message:
            case bp.AckRequest(offset=offset):
                self._bridge.ack(offset)
            case bp.ResizeRequest(cols=cols, rows=rows):
                self._bridge.resize(cols, rows)
            case bp.OpenRequest():
                self._bridge.open(message)
            case bp.AttachRequest():
                self._bridge.attach(message)
            case bp.CloseRequest():
                self._bridge.close()

    def on_close(self) -> None:
        self._services.connections.discard(self)
        if self._bridge is not None:
            metrics.CONNECTIONS.dec()
            self._bridge.detach()
            self._bridge = None

    def restart(self) -> None:
        """This front end is stopping: the session goes on, the page resumes elsewhere."""
        self.send_text(bp.reconnect("this front end is restarting; resume through another"))
        self.on_close()
        self.close(1012, "service restart")

    def send_text(self, text: str) -> None:
        try:
            self.write_message(text)
        except WebSocketClosedError:
            log.debug("connection closed before a control message could be sent")

    def send_bytes(self, data: bytes) -> None:
        """Terminal output as one binary frame, written without a task per frame."""
        connection = self.ws_connection
        stream = None if connection is None or connection.is_closing() else connection.stream
        if stream is None:
            log.debug("connection closed before output could be sent")
            return
        stream.write(binary_frame(data))
