"""The stack under test: one exec worker and one front end, and a lean WebSocket client.

The processes are started exactly as the integration tests start them
(tests.support.processes): separate processes, ready lines awaited with a
deadline. Their logs go to test-output/bench/logs/ rather than test-output/logs/:
log names are numbered per process, and a test run at the same time would
otherwise write to, and read ready lines from, the same files.

StackTerminal speaks the browser protocol with tornado's WebSocket client in
callback style (no reader task, no queue) and acknowledges output the way the
page does: each time 16 KiB more have been consumed.

Concurrency: StackTerminal runs on the bench's event loop; Stack is synchronous.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from bench.terminal import Terminal
from tests.support import processes
from tests.support.processes import ManagedProcess, start_frontend, start_worker

HOST = "bench"
ACK_EVERY = 16 * 1024  # as web/src/terminal-session.js
SESSION_LIMIT = "2000"
"""The worker's session limits (per host, per person) are raised above the 1,000
idle sessions of one person that the idle metric holds at once."""


class Stack:
    """A running worker and front end, and how to sign in to the front end."""

    def __init__(self, worker: ManagedProcess, frontend: ManagedProcess) -> None:
        self.worker, self.frontend = worker, frontend
        parts = urlsplit(frontend.match["url"])
        self.base = f"http://{parts.netloc}"
        self.ws_url = f"ws://{parts.netloc}/ws/exec"
        self.token = parse_qs(parts.query)["token"][0]

    @classmethod
    def start(cls) -> Stack:
        processes.OUTPUT = processes.REPO / "test-output" / "bench"
        limits = ("--max-sessions", SESSION_LIMIT, "--max-sessions-per-person", SESSION_LIMIT)
        worker = start_worker(HOST, *limits)
        try:
            frontend = start_frontend([worker.match["endpoint"]])
        except BaseException:
            worker.stop()
            raise
        stack = cls(worker, frontend)
        stack.wait_host_up()
        return stack

    def wait_host_up(self, within: float = 15) -> None:
        """The front end prints its ready line before its first Welcome: wait for that."""
        request = urllib.request.Request(
            self.base + "/api/hosts", headers={"Authorization": f"Bearer {self.token}"}
        )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with urllib.request.urlopen(request, timeout=5) as response:
                hosts = json.load(response)["hosts"]
            if any(h["host"] == HOST and h["state"] == "up" for h in hosts):
                return
            time.sleep(0.05)
        raise TimeoutError(f"host {HOST} not up within {within} s")

    def stop(self) -> list[str]:
        """Stop both processes; returns the problems seen (ignored SIGTERM, tracebacks)."""
        problems = []
        for process in (self.frontend, self.worker):
            try:
                process.stop()
            except AssertionError as exc:
                problems.append(str(exc))
        return problems


class StackTerminal(Terminal):
    """One browser connection holding one session."""

    def __init__(self, keep: bool = False) -> None:
        super().__init__(keep)
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.errors: list[dict[str, Any]] = []
        self._conn: WebSocketClientConnection | None = None
        self._acked = 0

    @classmethod
    async def open(
        cls, stack: Stack, container: str, cmd: list[str], keep: bool = False
    ) -> StackTerminal:
        """Connect, ask for a session and wait for `opened`."""
        terminal = cls(keep)
        request = HTTPRequest(
            stack.ws_url, headers={"Authorization": f"Bearer {stack.token}"}, connect_timeout=10
        )
        conn = await websocket_connect(
            request, on_message_callback=terminal._on_message, max_message_size=8 << 20
        )
        conn.protocol.set_nodelay(True)  # browsers send keystrokes without Nagle's delay too
        terminal._conn = conn
        open_message = {"type": "open", "host": HOST, "container": container, "cmd": cmd}
        try:
            conn.write_message(json.dumps({**open_message, "cols": 80, "rows": 24}))
            reply = await asyncio.wait_for(asyncio.shield(terminal.opened), 30)
        except BaseException:
            conn.close()  # also when cancelled: no connection is left behind
            raise
        if reply["type"] != "opened":
            conn.close()
            raise RuntimeError(f"open failed: {reply}")
        return terminal

    def _on_message(self, message: str | bytes | None) -> None:
        if message is None:
            self._on_closed()
        elif isinstance(message, bytes):
            self._on_output(message)
            if self.received - self._acked >= ACK_EVERY:
                self._ack()
        else:
            self._on_control(json.loads(message))

    def _on_control(self, message: dict[str, Any]) -> None:
        """`opened` resolves with the first `opened` or `error`, never with an exception:
        when an open is given up, nobody is left to retrieve one."""
        kind = message.get("type")
        if kind in ("opened", "error") and not self.opened.done():
            self.opened.set_result(message)
        if kind == "exit":
            self._on_exit(message)
        elif kind == "error":
            self.errors.append(message)

    def _on_closed(self) -> None:
        if not self.opened.done():
            self.opened.set_result({"type": "closed before opened"})
        self._on_exit({"type": "exit", "code": None, "reason": "connection-closed"})
        if not self.closed.done():
            self.closed.set_result(None)

    def _ack(self) -> None:
        """Ack what was consumed; after `exit` there is no session left to ack to."""
        if self.exited.done():
            return
        if self.received > self._acked and self._conn is not None:
            self._acked = self.received
            with contextlib.suppress(WebSocketClosedError):
                self._conn.write_message(json.dumps({"type": "ack", "offset": self._acked}))

    def send_keys(self, data: bytes) -> None:
        assert self._conn is not None
        self._conn.write_message(data, binary=True)

    async def close(self) -> None:
        """Close the connection, and the session first if it still runs: sessions
        outlive their connections, and this one is not coming back."""
        if self._conn is not None and not self.closed.done():
            if not self.exited.done():
                with contextlib.suppress(WebSocketClosedError):
                    self._conn.write_message(json.dumps({"type": "close"}))
            self._conn.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.closed), 5)
