"""An HTTP collector of audit events for tests: real HTTP on loopback, in a thread.

It answers POSTs by a script: each request takes the next answer of `script`
(`503`, or `hang` to keep the request open until the sender gives up, or at most
`hang_seconds` and then answer 504), and once the script is used up, `default`
(200 unless told otherwise).
Only requests answered 200 count as received; their lines are kept in order of
arrival, with the path they were posted to. Every request is kept in `requests`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from tests.support.waiting import wait_until


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    answer: str


@dataclass
class Collector:
    script: list[str] = field(default_factory=list)
    default: str = "200"
    hang_seconds: float = 3.0
    requests: list[Request] = field(default_factory=list)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="collector", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the collector did not start")

    def url(self, path: str = "/ingest") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        server = HTTPServer(Application([(r"/.*", _Ingest, {"collector": self})]))
        server.add_sockets(sockets)
        self._ready.set()
        await self._stop.wait()
        server.stop()
        await server.close_all_connections()

    def next_answer(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def keep(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
            if request.answer == "200":
                for line in request.body.decode().splitlines():
                    self.received.append((request.path, json.loads(line)))

    def events(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [event for where, event in self.received if where == path]

    def answered(self, answer: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.answer == answer)

    def wait_events(self, path: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        return wait_until(
            lambda: len(self.events(path)) >= count and self.events(path),
            timeout,
            f"{count} events posted to {path}",
        )

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


class _Ingest(RequestHandler):
    def initialize(self, collector: Collector) -> None:
        self.collector = collector
        self.gone = asyncio.Event()

    def on_connection_close(self) -> None:
        self.gone.set()

    async def post(self) -> None:
        answer = self.collector.next_answer()
        self.collector.keep(
            Request(self.request.path, dict(self.request.headers), self.request.body, answer)
        )
        if answer == "hang":
            # until the sender gives up; one more patient than that is refused all the same
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gone.wait(), self.collector.hang_seconds)
            answer = "504"
        self.set_status(int(answer))
        self.finish({"ok": answer == "200"})
