"""WebSocketTerminal: a terminal over a WebSocket, as lean as the floor's client.

The connection is an asyncio protocol driven by the `websockets` library's sans-I/O
client: bytes from the socket go through its parser in the read callback itself, as
FloorTerminal's do, so the arms pay the same for their client and the table shows
the stack, not the client's framework. Binary frames are the terminal's output;
subclasses say what text frames mean.

Concurrency: runs on the bench's event loop.
"""

from __future__ import annotations

import asyncio
from socket import IPPROTO_TCP, TCP_NODELAY
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from bench.terminal import Terminal


class WebSocketTerminal(Terminal, asyncio.Protocol):
    def __init__(self, url: str, keep: bool = False) -> None:
        super().__init__(keep)
        self._url = url
        self._ws = ClientProtocol(parse_uri(url), max_size=8 << 20)
        self._upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None

    async def connect(self, headers: dict[str, str] | None = None) -> None:
        """Open the connection and wait for the upgrade; nothing is left open on failure."""
        where = parse_uri(self._url)
        loop = asyncio.get_running_loop()
        connecting = loop.create_connection(lambda: self, where.host, where.port)
        transport, _ = await asyncio.wait_for(connecting, 10)
        try:
            # browsers send keystrokes without Nagle's delay too
            transport.get_extra_info("socket").setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
            request = self._ws.connect()
            for name, value in (headers or {}).items():
                request.headers[name] = value
            self._ws.send_request(request)
            self._flush()
            await asyncio.wait_for(asyncio.shield(self._upgraded), 10)
        except BaseException:
            transport.close()  # also when cancelled
            raise

    # --- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._ws.receive_data(data)
        for event in self._ws.events_received():
            if isinstance(event, Response):
                self._on_upgrade()
            elif isinstance(event, Frame) and event.opcode is Opcode.BINARY:
                self._on_binary(bytes(event.data))
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._on_text(bytes(event.data))
        self._flush()  # pongs and close replies the parser queued

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._upgraded.done():
            self._upgraded.set_exception(ConnectionError(f"connection lost: {exc}"))

    # --- frames ------------------------------------------------------------------------

    def _on_upgrade(self) -> None:
        if self._ws.handshake_exc is None:
            self._upgraded.set_result(None)
        else:
            self._upgraded.set_exception(self._ws.handshake_exc)

    def _on_binary(self, data: bytes) -> None:
        self._on_output(data)

    def _on_text(self, data: bytes) -> None:
        pass

    def _flush(self) -> None:
        data = self._ws.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(data))

    def send_keys(self, data: bytes) -> None:
        self._ws.send_binary(data)
        self._flush()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def close(self) -> None:
        self.abort()
