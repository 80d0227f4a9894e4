"""GET /api/events: live hosts and containers for the page, as Server-Sent Events.

The stream opens with a `snapshot` (every host and container) and goes on with
`host`, `host-containers`, `container` and `host-removed` events as workers report
changes. A client that falls more than MAX_BEHIND events behind is disconnected
rather than buffered without bound; EventSource reconnects by itself and gets a
fresh snapshot, so nothing is lost, only replaced. A comment line every
KEEPALIVE seconds keeps proxies from cutting the idle stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import Any

from tornado.iostream import StreamClosedError

from frontend_server.api import (
    BaseHandler,
    View,
    container_json,
    containers_json,
    host_key,
)
from frontend_server.pool_events import ContainerUpdated, HostChanged, HostRemoved, PoolEvent

log = logging.getLogger(__name__)

MAX_BEHIND = 10_000
KEEPALIVE = 15.0


def event_json(event: PoolEvent, view: View) -> tuple[str, dict[str, Any]]:
    """The event as the page gets it; containers the person may not see are left out
    (a container that becomes hidden is sent as removed), and so are hosts the
    person is not shown (sent as removed: a worker may come back under another name)."""
    match event:
        case HostChanged(status=status) if not view.shown(status.host):
            return "host-removed", {"id": host_key(status.endpoint)}
        case HostChanged(status=status, containers=None):
            return "host", view.host(status)
        case HostChanged(status=status, containers=list() as listed):
            return "host-containers", {
                **view.host(status),
                "items": [
                    container_json(
                        status.host, c, view.files(status.host, c), view.observe(status.host, c)
                    )
                    for c in listed
                    if view.visible(status.host, c)
                ],
            }
        case ContainerUpdated(host=host, id=cid, container=info):
            shown = info is not None and view.visible(host, info)
            item = (
                container_json(host, info, view.files(host, info), view.observe(host, info))
                if shown and info is not None
                else None
            )
            return "container", {"host": host, "id": cid, "container": item}
        case HostRemoved(endpoint=endpoint):
            return "host-removed", {"id": host_key(endpoint)}
    raise TypeError(f"unknown pool event {event!r}")


class Backlog:
    """Events not yet written to one client, bounded: past the bound it gives up."""

    def __init__(self) -> None:
        self.events: deque[PoolEvent] = deque()
        self.behind = False
        self.ready = asyncio.Event()

    def push(self, event: PoolEvent) -> None:
        if len(self.events) >= MAX_BEHIND:
            self.behind = True
        else:
            self.events.append(event)
        self.ready.set()


class EventsHandler(BaseHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")  # nginx: do not buffer the stream
        assert self.person is not None
        view = self.view_of(self.person)
        backlog = Backlog()
        self.pool.subscribe(backlog.push)
        try:
            containers, _ = containers_json(self.pool, view)
            hosts = [view.host(s) for s in self.pool.statuses() if view.shown(s.host)]
            await self._send("snapshot", {"hosts": hosts, "containers": containers})
            await self._pump(backlog, view)
        except StreamClosedError:
            pass
        finally:
            self.pool.unsubscribe(backlog.push)

    async def _pump(self, backlog: Backlog, view: View) -> None:
        while not backlog.behind:
            if not backlog.events:
                backlog.ready.clear()
                try:
                    await asyncio.wait_for(backlog.ready.wait(), KEEPALIVE)
                except TimeoutError:
                    self.write(": keepalive\n\n")
                    await self.flush()
                continue
            await self._send(*event_json(backlog.events.popleft(), view))
        log.info("event stream of %s fell behind; closing it", self.request.remote_ip)

    async def _send(self, name: str, body: dict[str, Any]) -> None:
        self.write(f"event: {name}\ndata: {json.dumps(body)}\n\n")
        await self.flush()
