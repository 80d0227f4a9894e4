"""The floor: a tty exec driven straight through the Docker Engine API, from Python.

No web layer, no ZeroMQ, no worker: what any Python program must pay to type into
a container. The exec is created with the docker SDK (in a thread, as the worker
does, so a slow create never freezes the bench's loop) with the same options as
the worker's; the start request is written by hand on a unix-socket connection,
and every byte after the `101 UPGRADED` head, including those read together with
it, is the exec's output. Docker has no flow control of its own: the floor reads
as fast as it can.

Concurrency: FloorTerminal is an asyncio protocol on the bench's event loop.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import docker

from bench.terminal import Terminal
from shared.settings import DEFAULT_DETACH_KEYS

MAX_HEAD = 64 * 1024


class Floor:
    """One Docker daemon, reached the shortest way."""

    def __init__(self, url: str) -> None:
        self.api = docker.APIClient(base_url=url, version="auto", max_pool_size=32)
        self.socket_path = urlsplit(url).path

    def close(self) -> None:
        self.api.close()

    async def open(self, container: str, cmd: list[str], keep: bool = False) -> FloorTerminal:
        """Create and start a tty exec; returns once Docker has answered the upgrade."""
        created = await asyncio.to_thread(
            self.api.exec_create,
            container,
            cmd,
            stdin=True,
            stdout=True,
            stderr=True,
            tty=True,
            environment={"TERM": "xterm-256color"},
            detach_keys=DEFAULT_DETACH_KEYS,
        )
        terminal = FloorTerminal(keep)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_unix_connection(lambda: terminal, self.socket_path)
        transport.write(self._start_request(created["Id"]))
        try:
            failure = await asyncio.wait_for(asyncio.shield(terminal.upgraded), 30)
        except BaseException:
            transport.close()
            raise
        if failure is not None:
            transport.close()
            raise RuntimeError(failure)
        return terminal

    def _start_request(self, exec_id: str) -> bytes:
        body = json.dumps({"Detach": False, "Tty": True}).encode()
        head = (
            f"POST /v{self.api.api_version}/exec/{exec_id}/start HTTP/1.1\r\n"
            "Host: docker\r\nContent-Type: application/json\r\n"
            f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


class FloorTerminal(Terminal, asyncio.Protocol):
    """The hijacked exec connection: its HTTP head, then raw tty bytes both ways.

    `upgraded` resolves with None once Docker has switched protocols, or with why
    it did not; never with an exception, which an abandoned open would leave
    unretrieved.
    """

    def __init__(self, keep: bool = False) -> None:
        super().__init__(keep)
        self.upgraded: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._head = bytearray()
        self._transport: asyncio.Transport | None = None
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self.upgraded.done():
            self._on_output(data)
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HEAD:
                self._fail(f"oversized response head: {bytes(self._head[:200])!r}")
            return
        status = bytes(self._head[: self._head.find(b"\r\n")])
        if b" 101 " not in status and b" 200 " not in status:
            self._fail(f"exec start answered {bytes(self._head)!r}")
            return
        rest = bytes(self._head[end + 4 :])
        self.upgraded.set_result(None)
        if rest:
            self._on_output(rest)

    def _fail(self, why: str) -> None:
        self.upgraded.set_result(why)
        assert self._transport is not None
        self._transport.close()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_result(f"Docker closed the connection: {exc}")
        self._on_exit({"type": "exit", "code": None, "reason": "eof"})
        self._lost.set_result(None)

    def send_keys(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)

    async def close(self) -> None:
        if self._transport is not None and not self._lost.done():
            self._transport.close()
            await asyncio.wait_for(asyncio.shield(self._lost), 5)
