"""A WebSocket client on a plain socket, for clients that misbehave on purpose: one
that never reads what it is sent, whose kernel buffer is kept small."""

from __future__ import annotations

import base64
import json
import os
import socket
from typing import Any
from urllib.parse import urlsplit

from websockets.frames import Frame, Opcode

from tests.support.terminal_client import Stack


class RawWebSocket:
    def __init__(self, stack: Stack, headers: dict[str, str], receive_buffer: int = 4096) -> None:
        parts = urlsplit(stack.base)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect((parts.hostname or "", parts.port or 80))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /ws/exec HTTP/1.1",
            f"Host: {parts.netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))

    def send_control(self, message: dict[str, Any]) -> None:
        frame = Frame(Opcode.TEXT, json.dumps(message).encode())
        self.sock.sendall(frame.serialize(mask=True))

    def close(self) -> None:
        self.sock.close()
