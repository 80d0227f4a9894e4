"""The stack under test: one exec worker and one front end, and a lean WebSocket client.

The processes are started exactly as the integration tests start them
(tests.support.processes): separate processes, ready lines awaited with a
deadline. Their logs go to test-output/bench/logs/ rather than test-output/logs/:
log names are numbered per process, and a test run at the same time would
otherwise write to, and read ready lines from, the same files.

StackTerminal speaks the browser protocol over a WebSocket framed by the
`websockets` library's sans-I/O client, in the read callback (no reader task, no
queue), and acknowledges output the way the page does: each time a quarter of
the window more has been consumed.

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

from bench.websocket_client import WebSocketTerminal
from tests.support import processes
from tests.support.processes import ManagedProcess, start_frontend, start_worker

HOST = "bench"
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


class StackTerminal(WebSocketTerminal):
    """One browser connection holding one session."""

    def __init__(self, url: str, keep: bool = False) -> None:
        super().__init__(url, keep)
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.errors: list[dict[str, Any]] = []
        self._acked = 0
        self._ack_every = 1

    @classmethod
    async def open(
        cls, stack: Stack, container: str, cmd: list[str], keep: bool = False
    ) -> StackTerminal:
        """Connect, ask for a session and wait for `opened`."""
        terminal = cls(stack.ws_url, keep)
        await terminal.connect({"Authorization": f"Bearer {stack.token}"})
        try:
            open_message = {"type": "open", "host": HOST, "container": container, "cmd": cmd}
            terminal._send_json({**open_message, "cols": 80, "rows": 24})
            reply = await asyncio.wait_for(asyncio.shield(terminal.opened), 30)
        except BaseException:
            terminal.abort()  # also when cancelled: no connection is left behind
            raise
        if reply["type"] != "opened":
            terminal.abort()
            raise RuntimeError(f"open failed: {reply}")
        return terminal

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.opened.done():
            self.opened.set_result({"type": "closed before opened"})
        self._on_exit({"type": "exit", "code": None, "reason": "connection-closed"})
        if not self.closed.done():
            self.closed.set_result(None)

    # --- the browser protocol --------------------------------------------------------

    def _on_binary(self, data: bytes) -> None:
        self._on_output(data)
        if self.received - self._acked >= self._ack_every:
            self._ack()

    def _on_text(self, data: bytes) -> None:
        """`opened` resolves with the first `opened` or `error`, never with an exception:
        when an open is given up, nobody is left to retrieve one."""
        message = json.loads(data)
        kind = message.get("type")
        if kind == "opened":
            self._ack_every = max(1, message["window"] // 4)  # as web/src/terminal-session.js
        if kind in ("opened", "error") and not self.opened.done():
            self.opened.set_result(message)
        if kind == "exit":
            self._on_exit(message)
        elif kind == "error":
            self.errors.append(message)

    def _ack(self) -> None:
        """Ack what was consumed; after `exit` there is no session left to ack to."""
        if not self.exited.done() and self.received > self._acked:
            self._acked = self.received
            self._send_json({"type": "ack", "offset": self._acked})

    def _send_json(self, message: dict[str, Any]) -> None:
        self._ws.send_text(json.dumps(message).encode())
        self._flush()

    async def close(self) -> None:
        """Close the connection, and the session first if it still runs: sessions
        outlive their connections, and this one is not coming back."""
        if self._transport is not None and not self.closed.done():
            if not self.exited.done():
                self._send_json({"type": "close"})
            self._transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.closed), 5)
