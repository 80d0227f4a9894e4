"""The front end's HTTP server: Tornado's, with deadlines on request heads and a cap.

Deadlines. Tornado runs one timer per request head: from the moment the server
waits for a request (a new connection, or the end of the previous response) until
the head is complete, then closes the connection without a word. This server sets
that timer to `header_timeout` for the first request of a connection and to
`idle_timeout` for the next ones on a kept-alive connection. `body_timeout` bounds
reading a whole request body; a handler that streams its body (an upload, passed on
to the worker as it comes) lifts it for its request with `lift_body_timeout`. While a
response is written no timer runs, so event streams and downloads last as long as
they send; a WebSocket leaves the server at its upgrade and is not counted.

Cap. At most `max_http_connections` connections are open. A new one past the cap
makes room by closing the oldest connection that is still waiting for a request
head (a slow or stalled client, or an idle kept-alive one, which a browser simply
reopens); only when every connection is busy with a request is the new one closed
at once. Both are counted, and a line is logged at most once a minute, so a flood of
stalled connections neither locks people out nor fills the log.

TLS. With a certificate (tls.py), each admitted socket is wrapped in the context in
use at that moment, so a renewed certificate serves every connection accepted after
it. The TLS handshake happens within the head deadline of the first request.

Concurrency: one event loop; connections are admitted by the Acceptor.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import cast

from tornado import httputil
from tornado.http1connection import (
    HTTP1Connection,
    HTTP1ConnectionParameters,
    HTTP1ServerConnection,
)
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream, SSLIOStream
from tornado.web import Application, RequestHandler

from frontend_server.metrics import HTTP_CONNECTIONS, HTTP_SHED
from shared.settings import FrontendConfig

log = logging.getLogger(__name__)

CAP_LOG_INTERVAL = 60.0


class HeadWatch(httputil.HTTPMessageDelegate):
    """Passes a request on, telling `arrived` when its head is complete."""

    def __init__(self, delegate: httputil.HTTPMessageDelegate, arrived: Callable[[], None]):
        self._delegate = delegate
        self._arrived = arrived

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        self._arrived()
        return self._delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self._delegate.data_received(chunk)

    def finish(self) -> None:
        self._delegate.finish()

    def on_connection_close(self) -> None:
        self._delegate.on_connection_close()


class GuardedHTTPServer(HTTPServer):
    """HTTPServer with per-phase head deadlines and a connection cap (see the module)."""

    max_connections = 0
    idle_params: HTTP1ConnectionParameters
    """Tornado's connection parameters with `idle_timeout` as the head deadline."""
    _open = 0
    _waiting: dict[HTTP1ServerConnection, None]
    """Connections waiting for a request head, oldest first."""
    _served: set[HTTP1ServerConnection]
    _evicted: set[HTTP1ServerConnection]
    _shed_counts: dict[str, int]
    _cap_logged = float("-inf")
    tls: Callable[[], ssl.SSLContext] | None = None
    """The TLS context for a new connection; None: plain HTTP."""

    def limit(self, max_connections: int, idle_timeout: float) -> None:
        """Set the cap and the deadline of heads after the first (call once, at start)."""
        if self.ssl_options is not None:
            raise ValueError("admit() makes its own streams: give TLS through `tls`")
        self.max_connections = max_connections
        self.idle_params = copy.copy(self.conn_params)
        self.idle_params.header_timeout = idle_timeout
        self._waiting, self._served, self._evicted = {}, set(), set()
        self._shed_counts = {}

    @property
    def open_connections(self) -> int:
        """Connections open and not being closed to make room."""
        return self._open - len(self._evicted)

    def admit(self, sock: socket.socket, address: tuple[str, int]) -> None:
        """A connection the Acceptor took: served, or closed at once past the cap."""
        if self.open_connections >= self.max_connections and not self._evict_oldest_waiting():
            self._shed("refused")
            sock.close()
            return
        stream = self._stream(sock)
        if stream is None:
            return
        self._open += 1
        HTTP_CONNECTIONS.set(self._open)
        self.handle_stream(stream, address)

    def _stream(self, sock: socket.socket) -> IOStream | None:
        """A plain stream, or a TLS one whose handshake starts with its first read."""
        sizes = {"max_buffer_size": self.max_buffer_size, "read_chunk_size": self.read_chunk_size}
        if self.tls is None:
            return IOStream(sock, **sizes)
        try:
            wrapped = self.tls().wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except OSError as exc:  # the client left already (as Tornado's own server allows)
            log.debug("a TLS connection could not start: %s", exc)
            with contextlib.suppress(OSError):
                sock.close()
            return None
        return SSLIOStream(wrapped, **sizes)

    def _evict_oldest_waiting(self) -> bool:
        if not self._waiting:
            return False
        oldest = next(iter(self._waiting))
        del self._waiting[oldest]
        self._evicted.add(oldest)
        oldest.stream.close()
        self._shed("evicted")
        return True

    def _shed(self, how: str) -> None:
        HTTP_SHED.labels(how).inc()
        self._shed_counts[how] = self._shed_counts.get(how, 0) + 1
        now = time.monotonic()
        if now - self._cap_logged >= CAP_LOG_INTERVAL:
            self._cap_logged = now
            log.warning(
                "connection cap (%d) reached: so far %d connections waiting for a request "
                "closed to make room, %d new ones refused",
                self.max_connections,
                self._shed_counts.get("evicted", 0),
                self._shed_counts.get("refused", 0),
            )

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        conn = cast(HTTP1ServerConnection, server_conn)
        if conn in self._served and isinstance(request_conn, HTTP1Connection):
            request_conn.params = self.idle_params
        self._waiting[conn] = None
        delegate = super().start_request(server_conn, request_conn)
        return HeadWatch(delegate, lambda: self._head_arrived(conn))

    def _head_arrived(self, conn: HTTP1ServerConnection) -> None:
        self._waiting.pop(conn, None)
        self._served.add(conn)

    def on_close(self, server_conn: object) -> None:
        conn = cast(HTTP1ServerConnection, server_conn)
        self._waiting.pop(conn, None)
        self._served.discard(conn)
        self._evicted.discard(conn)
        self._open -= 1
        HTTP_CONNECTIONS.set(self._open)
        super().on_close(server_conn)


def make_http_server(
    app: Application, config: FrontendConfig, tls: Callable[[], ssl.SSLContext] | None = None
) -> GuardedHTTPServer:
    server = GuardedHTTPServer(
        app,
        xheaders=False,
        idle_connection_timeout=config.header_timeout,
        body_timeout=config.body_timeout,
    )
    server.limit(config.max_http_connections, config.idle_timeout)
    server.tls = tls
    return server


def lift_body_timeout(handler: RequestHandler) -> None:
    """No deadline on this request's whole body: call it before the body is read (in
    `prepare` of a `stream_request_body` handler)."""
    connection = handler.request.connection
    if isinstance(connection, HTTP1Connection):
        connection.set_body_timeout(cast(float, None))  # None: Tornado sets no timer
