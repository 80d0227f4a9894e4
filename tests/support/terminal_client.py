"""A WebSocket client speaking the browser protocol, as a script or a test would.

It reads every frame in a background task: output bytes are appended to
`output` and acknowledged (as protocol v1 asks) unless `auto_ack` is off; control
messages are kept in order in `controls`. Waits are on conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

PROMPT = rb"[#$] (?:\x1b\[(?:6n|J))?$"
"""A shell's prompt at the end of the output: busybox ash asks for the cursor position
after it, and after a resize redraws it and clears the rest of the screen."""


class Stack:
    """Where a running front end is, how to sign in to it, and, for one serving TLS
    itself, the client context that trusts its certificate."""

    def __init__(self, url: str, host: str = "", tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.token = parse_qs(parts.query).get("token", [""])[0]
        self.host = host
        self.tls = tls

    def ws_url(self) -> str:
        return self.base.replace("http", "ws", 1) + "/ws/exec"


class TerminalClient:
    def __init__(self, conn: WebSocketClientConnection, auto_ack: bool = True) -> None:
        self.conn = conn
        self.auto_ack = auto_ack
        self.output = bytearray()
        self.offset = 0
        """Session offset after the last byte received (what acks and resumes name)."""
        self.acked = 0
        self.controls: list[dict[str, Any]] = []
        self.pings = 0
        self.closed = False
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        conn.on_ping = self._on_ping  # type: ignore[method-assign]

    @classmethod
    async def connect(
        cls,
        stack: Stack,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        auto_ack: bool = True,
    ) -> TerminalClient:
        token = stack.token if token is None else token
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        all_headers = {**auth, **(headers or {})}
        request = HTTPRequest(
            stack.ws_url(), headers=all_headers, connect_timeout=10, ssl_options=stack.tls
        )
        conn = await websocket_connect(request, max_message_size=64 << 20)
        return cls(conn, auto_ack)

    def _on_ping(self, data: bytes) -> None:
        self.pings += 1
        self._changed.set()

    async def _read(self) -> None:
        while True:
            message = await self.conn.read_message()
            if message is None:
                self.closed = True
                self._changed.set()
                return
            if isinstance(message, bytes):
                self.output += message
                self.offset += len(message)
                if self.auto_ack:
                    self.ack(self.offset)
            else:
                control = json.loads(message)
                if control["type"] == "opened":
                    self.offset = control["offset"]
                elif control["type"] == "skipped":
                    self.offset += control["bytes"]
                self.controls.append(control)
            self._changed.set()

    async def wait_for(self, condition: Any, timeout: float = 10, what: str = "condition") -> Any:
        """Wait until condition() is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.closed and not condition()):
                raise AssertionError(
                    f"timed out waiting for {what}; controls={self.controls[-5:]} "
                    f"output tail={bytes(self.output[-300:])!r} closed={self.closed}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    # --- sending ----------------------------------------------------------------------

    def send_control(self, message: dict[str, Any]) -> None:
        self.conn.write_message(json.dumps(message))

    def ack(self, offset: int) -> None:
        self.acked = offset
        with contextlib.suppress(WebSocketClosedError):  # output may race our own close
            self.conn.write_message(json.dumps({"type": "ack", "offset": offset}))

    def send_text_frame(self, text: str) -> None:
        self.conn.write_message(text)

    def send_keys(self, keys: bytes | str) -> None:
        self.conn.write_message(keys.encode() if isinstance(keys, str) else keys, binary=True)

    # --- higher level -------------------------------------------------------------

    def control(self, type_: str, start: int = 0) -> dict[str, Any] | None:
        return next((c for c in self.controls[start:] if c["type"] == type_), None)

    async def next_control(self, type_: str, timeout: float = 10, start: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = await self.wait_for(
            lambda: self.control(type_, start), timeout, f"a {type_!r} message"
        )
        return result

    async def open(self, container: str, host: str | None = None, **fields: Any) -> dict[str, Any]:
        """Open a session and wait for `opened`; fails the test on `error`."""
        return await self._join({"type": "open", "host": host, "container": container, **fields})

    async def attach(
        self, session: str, offset: int = 0, mode: str = "rw", token: str = ""
    ) -> dict[str, Any]:
        """Resume (rw) or watch (ro) a session; fails the test on `error`."""
        return await self._join(
            {"type": "attach", "session": session, "offset": offset, "mode": mode, "token": token}
        )

    async def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send an open or attach and return its answer, `opened` or `error`."""
        start = len(self.controls)
        self.send_control(request)
        reply: dict[str, Any] = await self.wait_for(
            lambda: next(
                (c for c in self.controls[start:] if c["type"] in ("opened", "error")), None
            ),
            20,
            "opened or error",
        )
        return reply

    async def _join(self, request: dict[str, Any]) -> dict[str, Any]:
        reply = await self.answer(request)
        assert reply["type"] == "opened", reply
        return reply

    async def expect(
        self, pattern: bytes | str, timeout: float = 10, since: int = 0
    ) -> re.Match[bytes]:
        """Wait until the output (from byte `since`) matches a regular expression."""
        regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        found: re.Match[bytes] = await self.wait_for(
            lambda: regex.search(self.output, since), timeout, f"output {regex.pattern!r}"
        )
        return found

    async def run(self, command: str, timeout: float = 10) -> bytes:
        """Type a shell command and return what it printed before the next marker."""
        marker = f"__done_{time.monotonic_ns()}__"
        since = len(self.output)
        self.send_keys(f"{command}; echo {marker[:6]}''{marker[6:]}\r")
        found = await self.expect(re.escape(marker).encode() + rb"\r\n", timeout, since)
        echoed = self.output.find(b"\n", since) + 1
        return bytes(self.output[echoed : found.start()])

    async def wait_exit(self, timeout: float = 10) -> dict[str, Any]:
        return await self.next_control("exit", timeout)

    async def close(self) -> None:
        self.conn.close()
        await self.wait_for(lambda: self.closed, 10, "close")
        self._reader.cancel()


async def expect_http_error(request: HTTPRequest) -> int:
    """Status of a refused WebSocket upgrade (or 0 if it was accepted)."""
    try:
        conn = await websocket_connect(request)
    except HTTPClientError as exc:
        return exc.code
    conn.close()
    return 0
