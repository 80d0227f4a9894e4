"""A client of the page's event stream (GET /api/events, Server-Sent Events)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.support.terminal_client import Stack


class EventStream:
    """Collects (arrival time, event name, data) while the stream is open."""

    def __init__(self, stack: Stack, headers: dict[str, str] | None = None) -> None:
        self.events: list[tuple[float, str, Any]] = []
        self._buffer = b""
        self._changed = asyncio.Event()
        request = HTTPRequest(
            stack.base + "/api/events",
            headers=headers or {"Authorization": f"Bearer {stack.token}"},
            streaming_callback=self._on_chunk,
            request_timeout=3600,
        )
        self._client = AsyncHTTPClient(force_instance=True)
        self._fetch = asyncio.ensure_future(self._client.fetch(request, raise_error=False))

    def _on_chunk(self, chunk: bytes) -> None:
        self._buffer += chunk
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in block.decode().splitlines() if ": " in line
            )
            if "event" in fields:
                self.events.append((time.monotonic(), fields["event"], json.loads(fields["data"])))
                self._changed.set()

    async def wait_for(self, predicate: Any, timeout: float, what: str) -> tuple[float, str, Any]:
        """The first event (name, data) satisfying predicate(name, data)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if predicate(event[1], event[2]):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout}s; got {self.events[-5:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def close(self) -> None:
        self._fetch.cancel()
        self._client.close()
