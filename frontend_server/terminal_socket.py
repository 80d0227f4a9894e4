"""The upgrade of /ws/exec: sign-in, Origin, the WebSocket handshake, then hand off.

Thin by design: it refuses unauthenticated upgrades (401) and foreign Origins (403;
cross-site WebSocket hijacking is the classic hole of web terminals): the Origin's
scheme, host and port must be the page's own or a configured one. The
handshake itself (RFC 6455 headers, the accept key, 400/426 for a malformed
request) is the `websockets` library's `ServerProtocol.accept`, answered through
Tornado. Then the handler detaches the connection from Tornado's HTTP server and
hands its socket to a TerminalConnection on the same event loop; over the front
end's own TLS the connection stays on Tornado's stream (stream_transport.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tornado.iostream import IOStream, SSLIOStream
from tornado.web import HTTPError, RequestHandler
from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.protocol import OPEN, Protocol, Side
from websockets.server import ServerProtocol

from frontend_server.auth import client_address
from frontend_server.context import Services
from frontend_server.policy import Person
from frontend_server.stream_transport import StreamTransport
from frontend_server.terminal_connection import TerminalConnection
from frontend_server.web_security import origin_key, page_origin

log = logging.getLogger(__name__)

EARLY_BYTES = 1 << 16
ENGINE_LOG = logging.getLogger("frontend_server.websocket")
"""The engine's own logger: it says "connection open" and "closed" at INFO for every
connection, which the access log already tells; only its warnings are kept."""
ENGINE_LOG.setLevel(logging.WARNING)


class TerminalSocket(RequestHandler):
    def initialize(self, services: Services) -> None:
        self._services = services
        self._config = services.config

    def get_current_user(self) -> Person | None:
        return self._services.auth.person_of(self)

    async def get(self, *args: Any, **kwargs: Any) -> None:
        person = self.current_user
        if not person:
            self._refused(None, "not signed in")
            raise HTTPError(401, "sign in first")
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.check_origin(origin):
            self._refused(person, f"origin {origin[:200]} not allowed")
            raise HTTPError(403, "cross-origin WebSocket refused")
        headers = Headers(self.request.headers.get_all())
        response = ServerProtocol(logger=ENGINE_LOG).accept(
            Request(self.request.uri or "/", headers)
        )
        self.set_status(response.status_code, response.reason_phrase)
        for name, value in response.headers.raw_items():
            if name.lower() not in ("date", "server", "content-length"):
                self.set_header(name, value)
        if response.status_code != 101:
            self.finish(bytes(response.body))
            return
        self.finish()
        await self._hand_off(self.detach(), person)

    def _refused(self, person: Person | None, reason: str) -> None:
        address = client_address(self, self._services.auth)
        self._services.audit.record("denied", user=person.name if person else None,
                                    address=address, action="websocket", reason=reason)  # fmt: skip

    def check_origin(self, origin: str) -> bool:
        """Same origin as the page (scheme, host and port), or a configured one.

        The page's scheme is the one it is served over (https through TLS or a trusted
        proxy that says so); its host is the Host header, which the application has
        already checked against DNS rebinding."""
        given = origin_key(origin)
        scheme = "https" if self._services.auth.over_tls(self) else "http"
        allowed = given is not None and (
            given == page_origin(scheme, self.request.host)
            or given in {origin_key(o) for o in self._config.allowed_origins}
        )
        if not allowed:
            log.warning("refused a WebSocket from origin %s", origin)
        return allowed

    async def _hand_off(self, stream: IOStream, person: Person) -> None:
        """Move the socket from Tornado's stream to a transport of the loop's own,
        with whatever the stream read past the request (RFC 6455 lets a client send
        frames as soon as it has our answer)."""
        address = client_address(self, self._services.auth)
        if stream.closed():
            return  # the browser left during the handshake
        if isinstance(stream, SSLIOStream):  # its TLS session stays with the stream
            ws = Protocol(Side.SERVER, state=OPEN, max_size=self._max_message(), logger=ENGINE_LOG)
            StreamTransport(stream, TerminalConnection(ws, self._services, person, address, b""))
            return
        early = asyncio.ensure_future(stream.read_bytes(EARLY_BYTES, partial=True))
        read = early.result() if early.done() and early.exception() is None else b""
        if not early.done():
            early.add_done_callback(lambda future: future.exception())  # closed below
        if stream.closed():
            return  # that read found the browser gone right after our answer
        sock = stream.socket.dup()
        stream.close()  # closes the stream's own descriptor; the connection lives on in sock
        ws = Protocol(Side.SERVER, state=OPEN, max_size=self._max_message(), logger=ENGINE_LOG)
        loop = asyncio.get_running_loop()
        await loop.connect_accepted_socket(
            lambda: TerminalConnection(ws, self._services, person, address, read), sock=sock
        )

    def _max_message(self) -> int:
        return 4 * max(self._config.max_input_frame, self._config.max_control_frame)
