"""TerminalConnection: one terminal WebSocket once its handshake is done.

Tornado answers the upgrade (terminal_socket.py); from then on the connection is
an asyncio protocol on the loop's own transport, framed by the `websockets`
library's sans-I/O engine: every read is parsed in the read callback, and output
leaves as one write of a frame header and the bytes. Tornado's stream would add a
future per read, a task wake-up per message and two changes of the descriptor's
poll interest per frame, about 100 us of the front end's CPU per keystroke.

Frames go to the connection's SessionBridge: binary ones are keystrokes, text ones
control messages (JSON). A bad frame is answered with an `error` message and ends
only that message. The engine answers pings and closes; this module pings the
browser every `ws_ping_interval` seconds, because proxies cut idle connections,
and drops a connection whose pong does not come within `ws_ping_timeout`.

Concurrency: callbacks of the one event loop; nothing here blocks.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from socket import IPPROTO_TCP, TCP_NODELAY
from typing import Any

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import OPEN, Protocol

from frontend_server import browser_protocol as bp
from frontend_server import metrics
from frontend_server.bridge import SessionBridge
from frontend_server.context import Services
from frontend_server.policy import Person
from frontend_server.ws_frames import binary_frame
from shared.errors import DtermError, ErrorCode, ProtocolError, TooLarge

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0
"""Seconds a closing connection waits for the browser's side of the close handshake."""


class TerminalConnection(asyncio.Protocol):
    def __init__(
        self, ws: Protocol, services: Services, person: Person, address: str, early: bytes
    ) -> None:
        self._ws = ws
        self._services = services
        self._config = services.config
        self._address = address
        self._early = early
        self._transport: asyncio.Transport | None = None
        self._bridge: SessionBridge | None = SessionBridge(self, services, person, address)
        self._parts: list[bytes] = []  # a fragmented message so far
        self._fragmented = Opcode.BINARY
        self._ping: asyncio.TimerHandle | None = None
        self._closer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        transport.get_extra_info("socket").setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
        self._services.connections.add(self)
        metrics.CONNECTIONS.inc()
        self._schedule_ping()
        if self._early:  # frames read together with the upgrade request
            self.data_received(self._early)
            self._early = b""

    def data_received(self, data: bytes) -> None:
        self._ws.receive_data(data)
        for event in self._ws.events_received():
            if isinstance(event, Frame):  # the only events once the handshake is done
                self._on_frame(event)
        self._flush()

    def eof_received(self) -> bool:
        self._ws.receive_eof()
        self._flush()
        return False

    def pause_writing(self) -> None:
        if self._bridge is not None:
            self._bridge.hold_output(True)

    def resume_writing(self) -> None:
        if self._bridge is not None:
            self._bridge.hold_output(False)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._ping, self._closer):
            if timer is not None:
                timer.cancel()
        self._end()

    # --- frames from the browser -------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        opcode, data = frame.opcode, frame.data
        if opcode is Opcode.PONG:
            self._schedule_ping()
            return
        if opcode is Opcode.CONT:
            self._parts.append(bytes(data))
            if not frame.fin:
                return
            opcode, data = self._fragmented, b"".join(self._parts)
            self._parts.clear()
        elif opcode in (Opcode.TEXT, Opcode.BINARY) and not frame.fin:
            self._fragmented, self._parts = opcode, [bytes(data)]
            return
        if opcode in (Opcode.TEXT, Opcode.BINARY):
            self._on_message(opcode is Opcode.BINARY, bytes(data))

    def _on_message(self, binary: bool, data: bytes) -> None:
        if self._bridge is None:
            return  # closing: the session is already handed back
        config = self._config
        try:
            if binary:
                if len(data) > config.max_input_frame:
                    raise TooLarge(
                        f"input frame of {len(data)} bytes; the limit is {config.max_input_frame}"
                    )
                self._bridge.input(data)
                return
            if len(data) > config.max_control_frame:
                raise TooLarge(f"control frame over {config.max_control_frame} bytes")
            try:
                text = data.decode()
            except UnicodeDecodeError:
                raise ProtocolError("a text frame must be UTF-8") from None
            self._control(bp.parse_control(text))
        except DtermError as exc:
            log.info("connection %s: %s", self._address, exc)
            self.send_text(bp.error(exc.code, str(exc)))
        except Exception:  # a bug must not leave the browser waiting for an answer
            log.exception("connection %s: a message could not be handled", self._address)
            self.send_text(bp.error(ErrorCode.INTERNAL, "the front end could not handle that"))

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
            case bp.EofRequest():
                self._bridge.end_input()

    # --- to the browser ------------------------------------------------------------

    def send_text(self, text: str) -> None:
        if self._ws.state is not OPEN:
            log.debug("connection closed before a control message could be sent")
            return
        self._ws.send_text(text.encode())
        self._flush()

    def send_bytes(self, data: bytes) -> None:
        """Terminal output as one binary frame, written straight to the transport: the
        engine has nothing queued, since every call that queues also flushes."""
        transport = self._transport
        if self._ws.state is not OPEN or transport is None or transport.is_closing():
            log.debug("connection closed before output could be sent")
            return
        transport.write(binary_frame(data))

    def close(self, code: int, reason: str) -> None:
        if self._ws.state is OPEN:
            self._ws.send_close(code, reason)
            self._flush()

    def restart(self) -> None:
        """This front end is stopping: the session goes on, the page resumes elsewhere."""
        self.send_text(bp.reconnect("this front end is restarting; resume through another"))
        self._end()
        self.close(CloseCode.SERVICE_RESTART, "service restart")
        if self._transport is not None:
            self._transport.close()  # after what is buffered; the process is ending

    def _flush(self) -> None:
        """Write what the engine queued (pongs, close frames, the end of the stream)."""
        transport = self._transport
        if transport is None:
            return
        for data in self._ws.data_to_send():
            if transport.is_closing():
                break
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
        if self._ws.close_expected() and self._closer is None:
            self._closer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)

    # --- liveness ------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        if self._ping is not None:
            self._ping.cancel()
        interval = self._config.ws_ping_interval
        if interval > 0:
            self._ping = asyncio.get_running_loop().call_later(interval, self._send_ping)

    def _send_ping(self) -> None:
        if self._ws.state is not OPEN:
            return
        self._ws.send_ping(secrets.token_bytes(4))
        self._flush()
        timeout = self._config.ws_ping_timeout
        self._ping = asyncio.get_running_loop().call_later(timeout, self._ping_timed_out)

    def _ping_timed_out(self) -> None:
        log.info("connection %s: no pong in %g s; dropping it", self._address,
                 self._config.ws_ping_timeout)  # fmt: skip
        if self._transport is not None:
            self._transport.abort()

    def _end(self) -> None:
        """The connection is going: the session goes on without it."""
        if self._bridge is None:
            return
        self._services.connections.discard(self)
        metrics.CONNECTIONS.dec()
        bridge, self._bridge = self._bridge, None
        bridge.detach()
